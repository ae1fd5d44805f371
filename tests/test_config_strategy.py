"""Strategy and graph files: every contract key, errors with path, line and 'did you mean'."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collections_engine.config import check_file, load_graph, load_strategy
from collections_engine.errors import ConfigError


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _default_text(root: Path) -> str:
    return (root / "strategies" / "default.yaml").read_text()


def test_default_files_are_valid(default_strategy_path: Path, default_graph_path: Path) -> None:
    s = load_strategy(default_strategy_path)
    g = load_graph(default_graph_path)
    assert s.stage_names() == ["M1", "M2", "M3", "M4+"]
    assert len(s.vendors()) >= 3 and s.fraud_queue() is not None and s.legal_queue() is not None
    assert len(s.sources) == 4
    assert g.hub_max_customers == 50 and g.community.method == "leiden"


def test_typo_gets_did_you_mean_with_line(tmp_path: Path, root: Path) -> None:
    text = _default_text(root).replace("commission: 0.25", "comission: 0.25")
    with pytest.raises(ConfigError, match=r"queues\[2\]\.comission \(line \d+\): unknown key, did you mean 'commission'"):
        load_strategy(_write(tmp_path, text))


def test_all_problems_at_once(tmp_path: Path, root: Path) -> None:
    text = (
        _default_text(root)
        .replace("commission: 0.30", "commission: 1.5")
        .replace("capacity: 8000", "capacity: -1")
        .replace("dpd_min: 61", "dpd_min: 58")
        .replace("stages: [M3, M4+], capacity: 30000", "stages: [M3, M9], capacity: 30000")
    )
    with pytest.raises(ConfigError) as info:
        load_strategy(_write(tmp_path, text))
    msg = str(info.value)
    assert "queues[3].commission" in msg and "less than 1" in msg
    assert "queues[1].capacity" in msg and "greater than or equal to 0" in msg
    assert "overlap" in msg and "stages[2].dpd_min" in msg
    assert "unknown stage 'M9'" in msg
    assert len(info.value.problems) >= 4


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("dpd_min: 61", "dpd_min: 70", r"gap: DPD 61\.\.69 is in no stage"),
        ("{name: M4+, dpd_min: 91}", "{name: M3, dpd_min: 91}", r"duplicate name 'M3'"),
        ("{name: fraud_team, kind: fraud, capacity: 2000}", "{name: sms, kind: fraud, capacity: 2000}",
         r"duplicate name 'sms'"),
        ("file_fields: [account_id, overdue_amount, dpd, band", "file_fields: [account_id, ssn, dpd, band",
         r"'ssn' is not a field a vendor file can carry"),
        ("commission: 0.30, placement_days: 60,", "commission: 0.30,",
         r"queues\[3\]\.placement_days .*missing; this key is required"),
        ("{name: legal, kind: legal, stages: [M4+]", "{name: legal, kind: legal, stages: [M3]",
         r"effect for stage 'M4\+' the queue does not take"),
        ("kind: channel", "kind: chanel", r"queues\[5\]\.kind .*chanel"),
        ("bands: [{name: A, min_points: 660}, {name: B, min_points: 600}",
         "bands: [{name: A, min_points: 600}, {name: B, min_points: 660}", r"expected below the previous band"),
        ("min_share: 0.1", "min_share: 0.9", r"min_share add up to 1\.1"),
        ("name: default", "name: default\nname: again", r"duplicate key"),
    ],
)
def test_rule_errors(tmp_path: Path, root: Path, old: str, new: str, expected: str) -> None:
    text = _default_text(root)
    assert old in text
    with pytest.raises(ConfigError, match=expected):
        load_strategy(_write(tmp_path, text.replace(old, new, 1)))


def test_stage_no_queue_takes(tmp_path: Path, root: Path) -> None:
    data = yaml.safe_load(_default_text(root))
    data["stages"].append({"name": "WO", "dpd_min": 181})
    data["stages"][3]["dpd_max"] = 180
    with pytest.raises(ConfigError, match="stage 'WO' is taken by no queue"):
        load_strategy(_write(tmp_path, yaml.safe_dump(data)))


def test_graph_errors(tmp_path: Path, default_graph_path: Path) -> None:
    text = default_graph_path.read_text().replace("hub_max_customers: 50", "hub_max_custmers: 0")
    import re

    text, n = re.subn(r"\bthreshold: [0-9.]+", "threshold: 1.5", text)
    assert n == 1
    with pytest.raises(ConfigError) as info:
        load_graph(_write(tmp_path, text, "g.yaml"))
    msg = str(info.value)
    assert "did you mean 'hub_max_customers'" in msg
    assert "ring.threshold" in msg


def test_check_tells_files_apart(tmp_path: Path, default_strategy_path: Path, default_graph_path: Path) -> None:
    assert check_file(default_strategy_path) == ("strategy", [])
    assert check_file(default_graph_path) == ("graph", [])
    kind, problems = check_file(_write(tmp_path, "just: text\n"))
    assert kind == "unknown" and problems
    kind, problems = check_file(_write(tmp_path, "stages: [\n"))
    assert kind == "unknown" and "not valid YAML" in problems[0]


def test_louvain_cpm_refused_up_front(tmp_path: Path, default_graph_path: Path) -> None:
    text = default_graph_path.read_text().replace("method: leiden, objective: modularity",
                                                  "method: louvain, objective: CPM")
    with pytest.raises(ConfigError, match=r"community\.objective \(line \d+\): found 'CPM' with method louvain"):
        load_graph(_write(tmp_path, text, "g.yaml"))
