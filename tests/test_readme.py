"""The README's quickstart runs as written and meets the accuracy it promises."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs_as_written():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    search = namespace["search"]
    assert len(search.cv_results_["params"]) == 9
    assert set(search.cv_results_["param_scale__method"]) == {
        "none",
        "minmax",
        "standard",
    }
    assert set(search.cv_results_["param_net__norm"]) == {"none", "batch", "layer"}
    assert search.best_score_ >= 0.97


def test_readme_opens_with_the_two_commands():
    commands = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    assert "sknorm sweep" in commands[0]
    assert commands[1].strip().endswith("pytest")
    assert (
        "pip install torch==2.13.0" in commands[0]
        and "pip install torch==2.13.0" in commands[1]
    )
