"""``python -m core qa`` and ``python -m core reward`` on tiny local files and a tiny model."""

import json

from core.cli.main import main
from core.scenarios.squad_data import load_squad_json
from core.storage.store import RunStore
from core.tasks.qa.tiny import make_tiny_qa_model, write_toy_squad


def test_qa_and_reward_commands_write_runs(tmp_path, capsys):
    source = write_toy_squad(tmp_path / "source.json", 30, "wiki")
    target = write_toy_squad(tmp_path / "target.json", 40, "news", seed=1)
    texts = [q.question + " " + q.context for p in (source, target) for q in load_squad_json(p)]
    model = make_tiny_qa_model(tmp_path / "model", texts)
    store = tmp_path / "runs"
    common = [
        "--model-dir",
        str(model),
        "--max-length",
        "48",
        "--budgets",
        "0.2",
        "--seeds",
        "0",
        "--out",
        str(store),
        "--quiet",
        "--device",
        "cpu",
    ]
    assert (
        main(
            [
                "qa",
                "--source-file",
                str(source),
                "--target-file",
                str(target),
                "--methods",
                "random,forge",
                *common,
            ]
        )
        == 0
    )
    for name, n in (("source.jsonl", 20), ("target.jsonl", 25)):
        with open(tmp_path / name, "w") as handle:
            for i in range(n):
                handle.write(
                    json.dumps(
                        {
                            "chosen": f"Human: hi {i} Assistant: glad to help",
                            "rejected": f"Human: hi {i} Assistant: go away",
                        }
                    )
                    + "\n"
                )
    assert (
        main(
            [
                "reward",
                "--source-file",
                str(tmp_path / "source.jsonl"),
                "--target-file",
                str(tmp_path / "target.jsonl"),
                "--methods",
                "random,margin,forge",
                *common,
            ]
        )
        == 0
    )
    runs = RunStore(store).finished_runs()
    assert sorted(runs.groupby("scenario").size().items()) == [
        ("hh-rlhf-files", 3),
        ("squad-files", 2),
    ]
    assert main(["table", "--out", str(store)]) == 0
    out = capsys.readouterr().out
    assert "test exact match after full adaptation" in out
    assert "test pair accuracy after head adaptation" in out
    assert (
        main(
            [
                "qa",
                "--source-file",
                str(tmp_path / "nope.json"),
                "--target-file",
                str(target),
                *common,
            ]
        )
        == 2
    )
