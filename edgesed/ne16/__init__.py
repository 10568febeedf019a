"""edgesed.ne16: what a network costs on GAP9's NE16, and which weight bits it should use.

The integer arithmetic (NE16's functional model, the packed weight layout) lives in
:mod:`kernels.ne16`; this package gives it meaning: cycles, a GAP9 clock and power profile,
a training-free mixed-precision search under a memory budget, and the seed's (Bose, ICASSP
2024) style of report. Sources: ``/work/shared/research/ne16.md``; nothing was checked on
silicon.

API map
-------
- :mod:`edgesed.ne16.layers` — a light network description, independent of the q7 graph IR
  - ``Kind`` (NE16: ``CONV3X3``, ``CONV1X1``, ``DW3X3``, ``FC``; cluster: ``MAXPOOL``,
    ``AVGPOOL``, ``GRU``, ``RNN``, ``SIGMOID``, ``SOFTMAX``, ``ADD``)
  - ``Layer(name, kind, in_shape, out_shape, *, stride, dilation, pool, bits, ...)`` with
    ``weight_bytes(bits)``, ``fixed_bytes()``, ``macs``; ``Net(name, layers)`` with
    ``with_bits(int | dict)``, ``memory_bytes``, ``searchable``
- :mod:`edgesed.ne16.cycles` — NE16 cycles per layer as named phase terms
  - ``conv_cycles(mode, h_out, w_out, k_out, k_in, qw, *, stride, dilation, ...) -> Ne16Cycles``
  - ``layer_cycles(layer) -> Ne16Cycles`` (``terms``: load, weight_offset, matrixvec,
    update_idx, normquant, streamout; ``total``, ``counts``, ``macs_per_cycle``)
  - ``peak_macs_per_cycle(mode, qw)``, per-phase functions, ``spatial_tiles``
- :mod:`edgesed.ne16.gap9` — ``Gap9Profile`` / ``GAP9`` (published vs assumed figures),
  ``cluster_cycles(layer)`` (ops NE16 does not run), ``layer_cost``, ``net_costs(net) -> dict``
  (ms, energy µJ, memory per inference), ``PUBLISHED``
- :mod:`edgesed.ne16.search` — training-free bit-width search
  - ``quantize_ne16(w, bits) -> (w_u, wmin, scale)``, ``fake_quant``
  - ``sensitivity(model, calib) -> Sensitivity`` (output NSR per layer and bits),
    ``measure_nsr(model, calib, bits)``
  - ``solve_mckp(options, capacity_bytes, granularity=None) -> Knapsack`` (exact DP)
  - ``search(net, sens, budget_bytes) -> SearchResult``, ``pareto_front``, ``format_pareto``,
    ``min_budget``
- :mod:`edgesed.ne16.crnn` — ``dcrnn_net()`` (a Dilated-CRNN-style SED model sized like the
  seed's), ``float_model(net, seed)`` (random He weights, NOT trained), ``FloatModel``,
  ``calibration_patches()`` (log-mel patches of synthetic clips)
- :mod:`edgesed.ne16.quantize` — the float Dilated CRNN as an integer NE16 graph the engine
  runs (:mod:`edgesed.graph_ne16` layers, :mod:`edgesed.dispatch_ne16`): ``quantize_dcrnn(model,
  calib, bits) -> (Graph, report)``, ``dcrnn_graph(bits=8)`` (``models.load("dcrnn-ne16")``),
  ``agreement(graph, model, patches) -> (sqnr_db, top1)``, ``frontend_patches``
- :mod:`edgesed.ne16.report` — ``bit_width_report(net, sens, budgets)``, ``format_report``,
  ``SEED_REDUCTIONS`` (the seed's −62 % / −46 % / −61 %, labelled as theirs)

Quick use::

    from edgesed.ne16 import crnn, search, report
    net, model = crnn.dcrnn_net(), crnn.float_model()
    sens = search.sensitivity(model, crnn.calibration_patches())
    print(report.format_report(report.bit_width_report(net, sens, [400 * 1024, 700 * 1024])))
"""
