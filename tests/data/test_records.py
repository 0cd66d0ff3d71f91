from __future__ import annotations

import json

from tod_lab.data import multiwoz
from tod_lab.data.records import content_key, turn_records


def test_turn_records_are_cached_by_content(multiwoz_root, tmp_path):
    data = multiwoz.read_split(multiwoz_root, "train")
    records = turn_records(data, tmp_path)
    assert len(records) == sum(len(d.turns) for d in data.dialogues)
    row = records[2]
    assert (row["dialogue_id"], row["turn_index"], row["speaker"]) == ("PMUL0001.json", 2, "USER")
    frames = json.loads(row["frames"])
    assert [f["service"] for f in frames] == ["restaurant", "hotel", "taxi"]
    # second call loads the same cache directory; a subset has another key
    again = turn_records(data, tmp_path)
    assert again.cache_files[0]["filename"].startswith(str(tmp_path))
    assert len(list((tmp_path / "records").iterdir())) == 1
    subset = data.subset(["SNG0002.json"])
    assert content_key(subset) != content_key(data)
    assert len(turn_records(subset, tmp_path)) == 2
