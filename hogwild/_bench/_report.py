"""The report of ``hogwild bench``: tables on the terminal, results.json and the plots."""
import json
from pathlib import Path


#: the floor rows of the epoch table: time_floor's keys and their labels
FLOORS = {"products": "floor: X @ w + X.T @ r", "shuffled_dots": "floor: x_i . w, rows shuffled",
          "shuffled_dots_float32": "floor: x_i . w, rows shuffled, float32",
          "shuffled_dots_parallel": "floor: x_i . w, rows shuffled, {threads} threads"}


def _table(header, rows, align):
    """Columns padded to their widest cell; ``align`` is a string of '<' and '>'."""
    cells = [header] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(f"{c:{a}{w}}" for c, a, w in zip(r, align, widths)).rstrip()
                     for r in cells)


def _ms(spread):
    return (f"{spread['median'] * 1e3:.2f}",
            f"[{spread['min'] * 1e3:.2f}-{spread['max'] * 1e3:.2f}]")


def _pct(gap):
    return f"{gap * 100:.3g}%"


def format_report(results):
    """The printed report: a header line and three aligned tables.

    Parameters
    ----------
    results : dict
        What :func:`run_benchmark` returns.

    Returns
    -------
    text : str
    """
    cfg, d, m = results["config"], results["data"], results["machine"]
    lines = [
        f"hogwild {m['versions']['hogwild']} bench: {cfg['source']}"
        + (f" ({cfg['task']})" if cfg.get("task") else ""),
        f"train {d['n_train']:,} x {d['n_features']:,}, {d['nnz_train']:,} nnz "
        f"(test {d['n_test']:,} rows); loss={cfg['loss']}, L2 alpha={cfg['alpha']:g}, "
        f"{cfg['epochs']} epochs, {cfg['repeats']} repeats (interleaved, median [min-max]); "
        f"{m['cpu_count']} CPUs; {load_average(m)}",
        "",
        "Epoch time: fit of all epochs / epochs" + cpu_use_note(m),
    ]
    rows = []
    for r in results["epoch_time"] + [results["float32"]]:
        med, rng = _ms(r["seconds_per_epoch"])
        speedup = r["speedup_vs_1_thread"]
        rows.append([r["name"], med, rng, f"{r['ns_per_nnz']:.2f}",
                     "-" if speedup is None else f"{speedup:.2f}x",
                     f"{r['ratio_to_sklearn']:.2f}", f"{r['test_accuracy']:.4f}"])
    for key, label in FLOORS.items():
        if key not in results["floor"]:  # results.json of an earlier version
            continue
        floor = results["floor"][key]
        med, rng = _ms(floor["seconds"])
        speedup = floor.get("speedup_vs_1_thread")
        rows.append([label.format(threads=floor.get("threads")), med, rng,
                     f"{floor['ns_per_nnz']:.2f}", "-" if speedup is None else f"{speedup:.2f}x",
                     f"{floor['ratio_to_sklearn']:.2f}", "-"])
    lines.append(_table(["contender", "ms/epoch", "[min-max] ms", "ns/nnz", "speed-up",
                         "x sklearn time", "test acc"], rows, "<>>>>>>"))
    f32 = results["float32"]
    lines.append(f"float32 / float64 epoch time, hogwild 1 thread: {f32['ratio_to_float64']:.2f}"
                 + (f"; the shuffled read's, repeat by repeat: {f32['floor_ratio_to_float64']:.2f}"
                    if "floor_ratio_to_float64" in f32 else ""))

    opt, lib = results["optimum"], results["liblinear"]
    lines += ["", f"Time to within {_pct(cfg['target_gap'])} of the optimum "
              f"(target: {cfg.get('target_set_by', 'default')}; "
              f"objective {opt['objective']:.6g} by "
              f"{opt['solver'].split('(')[0]}"
              f"{'' if opt['converged'] else ', NOT converged'}, {opt['seconds']:.2f} s"
              + (f", intercept penalty <= {_pct(opt['intercept_penalty_bound'])}"
                 if opt["intercept_penalty_bound"] else "") + "); "
              f"SGD runs partial_fit epochs, up to {cfg['max_epochs_to_target']}, plain and "
              "averaged (average=True); "
              "'one fit' times fit(max_iter=epochs) once the epochs are known"]
    rows = []
    lib_s = lib["seconds"]
    rows.append([lib["name"] + " (default tol)", f"{lib_s['median']:.3f}",
                 f"[{lib_s['min']:.3f}-{lib_s['max']:.3f}]", "-", "-", "-",
                 ("reached" if lib["gap"] <= cfg["target_gap"] else "NOT reached")
                 + f", gap {_pct(lib['gap'])}" + ("" if lib["converged"] else ", no convergence")])
    for r in results["time_to_target"]:
        if r["seconds"] is None:
            rows.append([r["name"], "-", "-", "-", "-", "-",
                         f"not reached, best gap {_pct(r['best_gap'])}"])
            continue
        s, f = r["seconds"], r["fit_seconds"]
        note = f"best gap {_pct(r['best_gap'])}"
        if r["reached"] < r["runs"]:
            note = f"reached in {r['reached']}/{r['runs']} runs, " + note
        rows.append([r["name"], f"{s['median']:.3f}", f"[{s['min']:.3f}-{s['max']:.3f}]",
                     f"{r['epochs']:g}", f"{f['median']:.3f}", _pct(r["fit_gap"]), note])
    lines.append(_table(["contender", "partial_fit s", "[min-max] s", "epochs",
                         "one fit s", "fit gap", "result"], rows,
                        "<>>>>><"))
    for r in results["time_to_target"]:
        if "fit_speedup" in r:
            fit, read = r["fit_speedup"], r["read_speedup"]
            lines.append(f"{r['name']}, one fit: {fit['median']:.2f}x one thread's "
                         f"[{fit['min']:.2f}-{fit['max']:.2f}] round by round; the shuffled "
                         f"read between those rounds: {read['median']:.2f}x "
                         f"[{read['min']:.2f}-{read['max']:.2f}], the cores' own scaling then")

    lines += ["", "Peers (snapml to its own tolerance, vowpalwabbit for the epochs above)"]
    for p in results["peers"]:
        if p["status"] == "ok":
            med, rng = _ms(p["seconds"])
            gap = "" if p.get("gap") is None else f", gap {_pct(p['gap'])}"
            lines.append(f"{p['name']}: {med} ms per fit of {p.get('passes', cfg['epochs'])} "
                         f"passes {rng}{gap}, test acc {p['test_accuracy']:.4f}")
        elif p["status"] == "not installed":
            lines.append(f"{p['name']} not installed: skipped")
        else:
            lines.append(f"{p['name']} {p['status']}")
    return "\n".join(lines)


def load_average(machine):
    """``load average A B C before, D E F after`` from a results' ``machine``."""
    before, after = (" ".join(f"{v:.2f}" for v in machine[key])
                     for key in ("loadavg_before", "loadavg_after"))
    return f"load average {before} before, {after} after"


def cpu_use_note(machine):
    """`` (of all CPUs' time meanwhile: ...)`` for the epoch race, from a results'
    ``machine``; empty where it was not measured."""
    use = machine.get("cpu_use_epoch_race")
    if not use:
        return ""
    return (f" (of all CPUs' time meanwhile: this process {use['this_process']:.0%}, "
            f"other processes {use['other_processes']:.0%}, "
            f"stolen by the hypervisor {use['stolen']:.0%})")


def write_results(results, out_dir, plot=None):
    """Write ``results.json`` and, when matplotlib imports, the plots.

    Parameters
    ----------
    results : dict
        What :func:`run_benchmark` returns.
    out_dir : str or path-like
        Created if missing.
    plot : callable, default=None
        ``plot(results, out)`` draws the plots into the folder ``out`` and
        returns their paths; None: the linear bench's two.

    Returns
    -------
    written : list of pathlib.Path
    notes : list of str
        One line per thing that could not be written (matplotlib missing).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    written, notes = [path], []
    try:
        import matplotlib
    except ImportError:
        notes.append("matplotlib not installed: no plots (pip install 'hogwild[bench]')")
        return written, notes
    matplotlib.use("Agg")
    written += (plot or _plot)(results, out)
    return written, notes


def _plot(results, out):
    import matplotlib.pyplot as plt

    cfg = results["config"]
    d = results["data"]
    title = (f"{cfg['name']}: {d['n_train']:,} x {d['n_features']:,}, {cfg['loss']}, "
             f"alpha={cfg['alpha']:g}")
    if cfg.get("task"):  # e.g. "20 classes made binary: ..." under the name
        title += "\n" + cfg["task"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    floor = 1e-7  # a run can end a hair below the reference optimum
    colours = {}  # an averaged contender: its plain counterpart's colour, dashed
    for r in results["time_to_target"]:
        t = [p["seconds"] for p in r["trace"]]
        g = [max(p["gap"], floor) for p in r["trace"]]
        plain = r["name"].removesuffix(", averaged")
        colour = colours.setdefault(plain, f"C{len(colours)}")
        ax.plot(t, g, marker=".", color=colour, linestyle="--" if r.get("averaged") else "-",
                label=r["name"])
    # LIBLINEAR's whole fit: one point, its gap clipped at ``floor`` like the lines
    lib = results["liblinear"]
    ax.plot([lib["seconds"]["median"]], [max(lib["gap"], floor)], "k*", markersize=10,
            label=lib["name"])
    ax.axhline(cfg["target_gap"], color="grey", linestyle=":", linewidth=1,
               label=f"target {_pct(cfg['target_gap'])}")
    ax.set(yscale="log", xlabel="wall time of partial_fit epochs (s)",
           ylabel="(objective - optimum) / optimum", title=title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    first = out / "objective_vs_time.png"
    fig.savefig(first, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    hog = [r for r in results["epoch_time"] if r["kind"] == "hogwild"]
    n = [r["threads"] for r in hog]
    ax.plot(n, [r["speedup_vs_1_thread"] for r in hog], "o-", label="hogwild")
    ax.plot(n, n, color="grey", linestyle="--", linewidth=1, label="linear")
    # hogwild 1 thread's time over scikit-learn's: scikit-learn's speed-up on this scale
    ax.axhline(hog[0]["ratio_to_sklearn"], color="C1", linewidth=1,
               label="scikit-learn SGD (1 thread)")
    read = results["floor"].get("shuffled_dots_parallel")
    if read:  # what the memory system allows: the shuffled read's own speed-up
        ax.plot([1, read["threads"]], [1.0, read["speedup_vs_1_thread"]], "s:", color="C2",
                label="read of the rows alone (x_i . w)")
    ax.set(xlabel="threads", ylabel="speed-up vs hogwild 1 thread (median epoch)",
           xticks=n, title=title)
    ax.legend()
    fig.tight_layout()
    second = out / "speedup_vs_threads.png"
    fig.savefig(second, dpi=120)
    plt.close(fig)
    return [first, second]
