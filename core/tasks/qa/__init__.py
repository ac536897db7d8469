"""Extractive span QA (the paper's Table 3): SQuAD-layout data from local files, any local
Hugging Face ``AutoModelForQuestionAnswering`` directory, FORGE/BADGE/CORESET embeddings of
Sec. 5.2, exact match and F1, and a sweep engine that writes the common run-store layout.

Modules: ``data`` (SQuAD JSON, tokenisation, the ``squad-files`` scenario), ``metrics``
(SQuAD's answer normalisation, EM, F1), ``model`` (loading offline, token states, span decoding,
losses), ``embeddings`` (the per-token formula, factored per batch; ``QAPoolEmbedding``),
``engine`` (select, adapt, record).
"""
