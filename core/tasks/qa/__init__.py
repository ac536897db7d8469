"""Extractive span QA (the paper's Table 3): SQuAD-layout data from local files, any local
Hugging Face ``AutoModelForQuestionAnswering`` directory, FORGE/BADGE/CORESET embeddings of
Sec. 5.2, exact match and F1, run by the common engine into the common run-store layout.

Modules: ``embeddings`` (the per-token formula, factored per batch; ``QAPoolEmbedding``),
``metrics`` (SQuAD's answer normalisation, EM, F1), ``evaluation`` (loss, spans, EM, F1 and
embeddings of a split), ``adaptation`` (fine-tuning on the selection), ``adapter`` (the engine's
``core.tasks.adapter.TaskAdapter``), ``tiny`` (a test-sized model and data). The data side is
``core.scenarios.squad_data`` and ``squad_files``, the model side ``core.nn.qa_model``.
"""
