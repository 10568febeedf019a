"""The int8 (TFLite) and NE16 model families through model files and the command line."""
import json

import numpy as np
import pytest

from edgesed import graphfile, models
from edgesed.cli import main
from edgesed.engine import Engine


@pytest.mark.parametrize("name", ["ds-cnn", "m20k-s8", "dcrnn-ne16"])
def test_graph_files_keep_int8_and_ne16_graphs(name, tmp_path):
    graph = models.load(name)
    back = graphfile.load(graphfile.save(graph, tmp_path / f"{name}.edgesed"))
    assert back.nodes == graph.nodes and back.input == graph.input
    assert back.labels == graph.labels
    for key, value in graph.params.items():
        assert back.params[key].dtype == value.dtype and np.array_equal(back.params[key], value)
    x = np.random.default_rng(0).integers(-128, 128, graph.input.shape, dtype=np.int8)
    assert np.array_equal(Engine(back).run(x), Engine(graph).run(x))


def test_export_tflite_then_infer_and_report_from_the_file(tmp_path, capsys):
    path = tmp_path / "kws.tflite"
    assert main(["export", "ds-cnn", "--tflite", str(path)]) == 0
    x = np.random.default_rng(1).integers(-128, 128, (49, 10, 1), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    assert main(["infer", str(path), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    want = Engine(models.load("ds-cnn")).run(x)
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)
    capsys.readouterr()
    assert main(["report", str(path), "--json", "--planner", "greedy"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total_macs"] == 2_656_768          # MLPerf Tiny DS-CNN: 2.66 M MACs
    assert report["ram_peak_bytes"] == 16_000


def test_float_input_to_an_int8_model_says_how_to_quantize(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((49, 10, 1), np.float32))
    assert main(["infer", "ds-cnn", "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) != 0
    err = capsys.readouterr().err
    assert "float32" in err and "np.round(x / " in err


def test_export_needs_a_destination(capsys):
    assert main(["export", "ds-cnn"]) != 0
    assert "--tflite FILE" in capsys.readouterr().err


def test_ne16_report_is_on_gap9(capsys):
    assert main(["report", "dcrnn-ne16"]) == 0
    out = capsys.readouterr().out
    assert "on gap9 (NE16 + 8-core RISC-V cluster" in out
    assert "ne16_nnx_dispatch (3x3, 8-bit weights, 16 phase jobs)" in out
    assert "nnom gru_cell_run" in out
