"""``sync="ssp"``: a stale synchronous parallel parameter server (Ho et al., NIPS 2013).

The server is a Dask Actor on one worker. It holds the model and one clock
per *slot* (a worker's group of partitions): the number of clocks whose
change the slot has pushed. Each slot runs :func:`ssp_loop` as one long
task on the worker that holds its partitions:

- before clock ``c`` it asks the server (:meth:`ParameterServer.begin`),
  which lets it start only once every slot has pushed clock ``c - s - 1``:
  the fastest slot is never more than ``s`` clocks ahead of the slowest
  (``s = 0``: bulk synchronous; ``staleness=None``: never waits);
- it pulls the model only when its copy is older than ``c - s`` (it misses
  some slot's clock ``c - s - 1`` or earlier); otherwise it trains on its
  own copy, which holds its own changes;
- after the clock it pushes its change, which the server adds at once with
  the merge's weights (:func:`~._worker.apply_change`).

A push is taken once: the server ignores a push for a clock the slot has
already pushed, so a loop that Dask restarts (its worker died) resumes at
its next clock with no row trained twice.
"""
import time

import numpy as np

from ._worker import apply_change, straggler_delay, train_clock

# How long a slot waits between asks while slower slots catch up.
POLL_SECONDS = 0.002


class ParameterServer:
    """The model and the slots' clocks, on one worker (a Dask Actor).

    Parameters
    ----------
    model : dict
        ``coef`` (n_outputs, n_features) and ``intercept``.
    slot_clocks : list of int
        Clocks each slot has pushed already (0 for a new fit, more when a
        fit restarts from a snapshot).
    staleness : int or None
    col_sq : ndarray of shape (n_features,)
    clocks : Clocks
        The fit's clock arithmetic and stopping rule.
    """

    def __init__(self, model, slot_clocks, staleness, col_sq, clocks):
        self.coef = np.array(model["coef"], copy=True)
        self.intercept = np.array(model["intercept"], copy=True)
        self.clocks = list(slot_clocks)
        self.staleness, self.col_sq, self.rule = staleness, col_sq, clocks
        self.stop_at = clocks.n_clocks
        self.started = []  # (slot, clock, slowest slot's pushed clocks) at each start
        self.push_times = []  # (slot, clock, seconds since the server started) at each push
        self.t0 = time.perf_counter()
        self.pushed = {}  # clock -> [summed loss, rows, slots]
        self.pulls = 0

    def begin(self, slot, clock):
        """``("go", eta)`` if ``slot`` may start ``clock`` now; ``("wait", 0)`` or ``("stop", 0)``."""
        if clock >= self.stop_at:
            return "stop", 0.0
        slowest = min(self.clocks)
        if self.staleness is not None and clock - slowest > self.staleness:
            return "wait", 0.0
        self.started.append((slot, clock, slowest))
        return "go", self.rule.eta(clock)

    def pull(self):
        """The model, and the clocks every slot has pushed (what it is sure to hold)."""
        self.pulls += 1
        return {"coef": self.coef.copy(), "intercept": self.intercept.copy(),
                "stamp": min(self.clocks)}

    def push(self, slot, clock, change):
        """Add ``slot``'s change of ``clock`` (once) and advance its clock."""
        if clock != self.clocks[slot]:
            return False
        apply_change(self.coef, self.intercept, change, self.col_sq, len(self.clocks))
        self.clocks[slot] += 1
        self.push_times.append((slot, clock, time.perf_counter() - self.t0))
        entry = self.pushed.setdefault(clock, [0.0, 0, 0])
        entry[0] += change["loss"]
        entry[1] += change["rows"]
        entry[2] += 1
        # the stopping rule sees clocks in order, each once every slot pushed it
        done = min(self.clocks)
        while self.pushed and min(self.pushed) < done:
            c = min(self.pushed)
            loss, rows, _ = self.pushed.pop(c)
            if not np.isfinite(loss):
                self.stop_at = min(self.stop_at, c + 1)
            elif self.rule.record(c, loss, rows):
                self.stop_at = min(self.stop_at, c + 1)
        return True

    def clock(self, slot):
        """The clocks ``slot`` has pushed."""
        return self.clocks[slot]

    def snapshot(self):
        """Everything a restart needs, taken between two pushes."""
        return {"coef": self.coef.copy(), "intercept": self.intercept.copy(),
                "clocks": list(self.clocks), "stop_at": self.stop_at,
                "started": list(self.started), "losses": list(self.rule.losses),
                "pending": {c: list(v) for c, v in self.pushed.items()},
                "plateau": (self.rule.plateau.best, self.rule.plateau.count),
                "eta": self.rule._eta, "pulls": self.pulls,
                "push_times": list(self.push_times)}

    def restore(self, snapshot):
        """Take up a snapshot's rule state (the model and clocks came with the constructor)."""
        self.started = list(snapshot["started"])
        self.rule.losses = list(snapshot["losses"])
        self.pushed = {c: list(v) for c, v in snapshot["pending"].items()}
        self.rule.plateau.best, self.rule.plateau.count = snapshot["plateau"]
        self.rule._eta = snapshot["eta"]
        self.stop_at = snapshot["stop_at"]
        self.pulls = snapshot["pulls"]
        self.push_times = list(snapshot["push_times"])


def ssp_loop(plan, parts, server, slot, staleness, straggle=None, wait_limit=300.0):
    """One slot's clocks under the server's rules, on the worker that holds ``parts``.

    Parameters
    ----------
    plan : Plan
    parts : list of Part
    server : Actor of ParameterServer
    slot : int
    staleness : int or None
    straggle : dict, default=None
        A slow worker, for tests and benchmarks (:func:`~._worker.straggler_delay`).
    wait_limit : float, default=300.0
        Longest wait for slower slots before giving up with an error.

    Returns
    -------
    clocks : int
        Clocks this slot has pushed.
    """
    try:
        from distributed import secede
        # a loop runs for the whole fit: it gives its slot in the worker's pool
        # back, so that recomputing a lost partition never waits behind it
        secede()
    except (ImportError, ValueError, KeyError):  # called outside a worker (tests)
        pass
    clock = server.clock(slot).result()
    model, stamp = None, -1
    waited = 0.0
    while True:
        status, eta = server.begin(slot, clock).result()
        if status == "stop":
            return clock
        if status == "wait":
            time.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
            if waited > wait_limit:
                raise TimeoutError(
                    f"slot {slot} waited {wait_limit:.0f} s at clock {clock} for slower "
                    "workers; a worker may have stopped without failing.")
            continue
        waited = 0.0
        if model is None or staleness is None or stamp < clock - staleness:
            pulled = server.pull().result()
            model, stamp = {"coef": pulled["coef"], "intercept": pulled["intercept"]}, \
                pulled["stamp"]
        change = train_clock(plan, parts, model, clock, eta)
        # the slot's own copy keeps its own change (read-my-writes)
        model["coef"] += change["coef"]
        model["intercept"] += change["intercept"]
        server.push(slot, clock, change).result()
        delay = straggler_delay(straggle, slot, clock)
        if delay:
            time.sleep(delay)
        clock += 1
