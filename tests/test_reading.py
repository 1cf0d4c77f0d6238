"""Reading results files: long lists of counts through numpy, size limits, endless and non-JSON input."""

import contextlib
import gzip
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

import figkit
from figkit import files, load_results, write_results
from figkit.files import file_digest
from figkit.results import entry_histogram, reading
from figkit.results.reading import CountList

HEAD = {"schema_version": 1, "model": {"num_experts": 64}, "methods": [{"id": "bh05"}, {"id": "topk8"}]}


def counts_text(lists, separator=", "):
    """A results file whose expert_counts hold ``lists`` as per-token values, written by hand."""
    entries = ",\n".join(
        f'    {{"method": "{method}", "layer": {layer}, "values": [{separator.join(map(str, values))}]}}'
        for layer, (method, values) in enumerate(lists)
    )
    return json.dumps(HEAD)[:-1] + ',\n  "expert_counts": [\n' + entries + "\n  ]\n}\n"


@pytest.fixture
def small_chunks(monkeypatch):
    """Read count lists 1,000 bytes at a time, so that a list of a few thousand spans several chunks."""
    monkeypatch.setattr(reading, "_CHUNK", 1000)


@pytest.mark.parametrize("separator", [", ", ",", ",\n      ", " ,\t"])
def test_long_count_lists_are_counted_as_json_and_a_counter_count_them(tmp_path, rng, small_chunks, separator):
    lists = [("bh05", rng.integers(0, 65, 9000).tolist()), ("topk8", [8] * 3000), ("bh05", [0, 64, 7] * 2000)]
    path = tmp_path / "r.json"
    path.write_text(counts_text(lists, separator))
    loaded = load_results(path)
    for entry, (_, values) in zip(loaded["expert_counts"], lists):
        assert isinstance(entry["values"], CountList)
        assert entry_histogram(entry) == dict(sorted(Counter(values).items()))
        assert len(entry["values"]) == len(values)
    assert [e["method"] for e in loaded["expert_counts"]] == [method for method, _ in lists]
    assert {k: v for k, v in loaded.items() if k != "expert_counts"} == HEAD


def test_short_lists_stay_lists_and_gzip_files_count_the_same(tmp_path, rng):
    values = rng.integers(1, 9, 20_000).tolist()
    path = write_results(tmp_path / "r.json.gz", raw_counts=True, **HEAD, expert_counts=[
        {"method": "bh05", "values": values}, {"method": "topk8", "values": [8, 8, 8]}
    ])  # fmt: skip
    loaded = load_results(path)
    assert entry_histogram(loaded["expert_counts"][0]) == dict(sorted(Counter(values).items()))
    assert loaded["expert_counts"][1]["values"] == [8, 8, 8]


def json_message(text):
    """What figkit says of a file ``json`` cannot parse: json's own message and position."""
    with pytest.raises(json.JSONDecodeError) as error:
        json.loads(text)
    return f"not valid JSON: {error.value.msg} at line {error.value.lineno}, column {error.value.colno}"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t.replace("3, 4", "3,, 4", 1),  # an empty entry
        lambda t: t.replace("3, 4", "3 4", 1),  # two numbers without a comma
        lambda t: t.replace("3, 4", "03, 4", 1),  # a leading zero
        lambda t: t.replace("3, 4", "3, 4,", 1)[::-1].replace("]", ",]", 1)[::-1],  # a trailing comma
        lambda t: t.replace("3, 4", "3, -4", 1),  # a negative count (json parses it; validation names it)
        lambda t: t.replace('"topk8", "layer": 1', '"topk8" "layer": 1'),  # after the lists: positions shift
        lambda t: t.rstrip()[:-1],  # the end
    ],
)
def test_a_malformed_file_is_reported_where_json_reports_it(tmp_path, small_chunks, spoil):
    text = spoil(counts_text([("bh05", [1, 2, 3, 4] * 2000), ("topk8", [8] * 3000)]))
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        load_results(path)
    try:
        json.loads(text)
    except json.JSONDecodeError:
        assert str(error.value) == json_message(text)
    else:
        assert str(error.value) == "expert_counts[0].values[3]: must be at least 0, got -4"


def test_a_bad_byte_after_a_long_list_is_named_at_its_place_in_the_file(tmp_path):
    text = counts_text([("bh05", [1, 2] * 5000)]).replace('"layer": 0', '"layer": 0, "x": "\u00e9"')
    data = text.encode("latin-1")
    (tmp_path / "r.json").write_bytes(data)
    with pytest.raises(ValueError, match=f"^not UTF-8 text \\(byte {data.index(0xE9)} is 0xe9\\)$"):
        load_results(tmp_path / "r.json")


def test_a_count_over_the_experts_is_named_at_its_first_position(tmp_path, small_chunks):
    values = [1] * 5000 + [70, 65, 70]
    for name, lists in (("long", values), ("short", values[-4:])):
        (tmp_path / name).write_text(counts_text([("bh05", lists)]))
    with pytest.raises(ValueError) as long:
        load_results(tmp_path / "long")
    assert str(long.value) == "expert_counts[0].values[5000]: must be at most 64, got 70"
    with pytest.raises(ValueError, match=r"^expert_counts\[0\]\.values\[1\]: must be at most 64, got 70$"):
        load_results(tmp_path / "short")


def test_long_lists_of_whole_numbers_elsewhere_load_as_json_loads_them(tmp_path):
    sweep = {"method_family": "bh", "param": "k", "values": list(range(1, 3001)), "avg_experts": [1.0] * 3000}
    results = {**HEAD, "methods": [{"id": "bh05", "label": "BH", "family": "bh"}], "sweeps": [sweep]}
    (tmp_path / "r.json").write_text(json.dumps(results))
    assert load_results(tmp_path / "r.json") == results
    label = '"values": [' + ", ".join(["1"] * 3000) + "]"  # a key in a string is a string, and read as one
    results["methods"][0]["label"] = label
    (tmp_path / "r.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match=r"methods\[0\]\.label: a text of 9,010 characters"):
        load_results(tmp_path / "r.json")


@pytest.mark.slow
def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as file:
        file.truncate(5 * 2**30)  # sparse: no disk used
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "figkit", "build", str(path), "-o", str(out)], capture_output=True)
    assert run.returncode == 2
    assert run.stderr.decode().strip() == (
        f"figkit build: {path}: is 5.0 GiB, more than figkit reads (4 GiB): "
        "write expert_counts as histograms (write_results does unless raw_counts=True)"
    )
    assert not out.exists()


def test_the_size_is_refused_before_the_build_key_hashes_the_file(tmp_path, monkeypatch):
    """Hashing 5 GiB takes seconds, refusing it an instant: nothing may read the file before the size gate."""
    path = tmp_path / "huge.json"
    with open(path, "wb") as file:
        file.truncate(5 * 2**30)
    hashed = []
    monkeypatch.setattr(reading, "file_digest", lambda p: hashed.append(Path(p)) or files.file_digest(p))
    with pytest.raises(ValueError, match=r"is 5\.0 GiB, more than figkit reads"):
        figkit.build(path, tmp_path / "out")
    assert path not in hashed


@pytest.mark.slow
def test_dev_zero_is_refused_at_once(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "figkit", "build", "/dev/zero", "-o", str(out)], capture_output=True)
    assert (run.returncode, run.stderr.decode().strip()) == (
        2,
        "figkit build: /dev/zero: not a results file: it starts with NUL bytes",
    )
    assert not out.exists()
    assert file_digest("/dev/zero") is None  # the no-op check does not read it either


@pytest.mark.parametrize("compressed", [False, True])
def test_an_endless_stream_is_refused_at_the_limit(tmp_path, monkeypatch, compressed):
    monkeypatch.setattr(reading, "MAX_BYTES", 2**20)
    fifo = tmp_path / "endless"
    os.mkfifo(fifo)

    def write_forever():
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as pipe:
            writer = gzip.GzipFile(fileobj=pipe, mode="wb") if compressed else pipe
            writer.write(b'{"title": "')
            while True:
                writer.write(b"a" * 65536)
                writer.flush()

    thread = threading.Thread(target=write_forever, daemon=True)
    thread.start()
    with pytest.raises(ValueError, match=r"^holds more than figkit reads"):
        load_results(fifo)
    thread.join(timeout=10)


def test_a_gzip_bomb_is_refused_at_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "MAX_BYTES", 2**20)
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b'{"title": "' + b"a" * 2**22 + b'"}'))
    with pytest.raises(ValueError, match=r"^holds more than figkit reads"):
        load_results(path)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"[1, 2]", 'not a results file: it starts with "[", and a results file is a JSON object, "{...}"'),
        (b"\n \x9c{}", 'not a results file: it starts with byte 0x9c, and a results file is a JSON object, "{...}"'),
    ],
)
def test_what_is_not_an_object_is_refused_from_its_first_byte(tmp_path, data, message):
    (tmp_path / "r.json").write_bytes(data)
    with pytest.raises(ValueError) as error:
        load_results(tmp_path / "r.json")
    assert str(error.value) == message


def test_a_raw_counts_file_costs_little_more_than_its_bytes(tmp_path, rng):
    lists = [(method, rng.integers(1, 20, 1_000_000).tolist()) for method in ("bh05", "topk8") * 4]
    path = tmp_path / "raw.json"
    path.write_text(counts_text(lists))
    size = path.stat().st_size  # 24 MB
    tracemalloc.start()
    try:
        load_results(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size + 24 * 2**20, f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"


def test_running_out_of_memory_is_said_in_one_line(tmp_path, monkeypatch, capsys):
    from figkit.cli import main

    def no_memory(file):
        raise MemoryError

    path = write_results(tmp_path / "r.json", **HEAD)
    monkeypatch.setattr(reading, "_bounded_bytes", no_memory)  # as under `ulimit -v` with a 1 GB file
    assert main(["build", str(path), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"figkit build: {path}: out of memory reading it: a results file needs about its own size in memory\n"
    )
    assert not (tmp_path / "out").exists()


def test_the_old_module_name_still_works_and_says_where_it_went():
    sys.modules.pop("figkit.reading", None)
    with pytest.warns(DeprecationWarning, match="figkit.results.reading"):
        from figkit.reading import CountList as Old
    assert Old is CountList
