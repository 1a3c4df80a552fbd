"""Each epoch's row order for the gradient-descent driver, drawn one epoch ahead.

Plain SGD runs an epoch in compiled code, on one core, without the GIL. The
next epoch's shuffled order (a permutation: about 3 ms per 200000 rows) can
therefore be drawn meanwhile on a worker thread, on the other core, instead of
between the epochs. The orders are exactly those of drawing them in turn from
the same generator: a draw made ahead but not used (the fit stopped early, or
failed) is undone by restoring the generator's state, so ``random_state``,
``partial_fit`` and ``warm_start`` see the same random stream either way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

__all__ = ["EpochOrders"]

#: Fewer rows than this: a permutation costs less than handing it to a thread.
AHEAD_MIN_ROWS = 20000


class EpochOrders:
    """Context manager giving each epoch's row order.

    Parameters
    ----------
    rng : numpy.random.Generator
        The estimator's generator (advanced as by one ``permutation`` per epoch).
    rows : ndarray of shape (n_rows,), int64
        The training rows.
    shuffle : bool
        False: every epoch visits ``rows`` as given (no draw).
    ahead : bool
        Draw the next epoch's order on a worker thread while the current
        epoch runs (when there is a next epoch and ``rows`` is large).

    Examples
    --------
    >>> with EpochOrders(rng, rows, shuffle=True, ahead=True) as orders:
    ...     for epoch in range(max_iter):
    ...         order = orders.next(more=epoch + 1 < max_iter)
    """

    def __init__(self, rng, rows, *, shuffle, ahead):
        self._rng, self._rows, self._shuffle = rng, rows, shuffle
        self._ahead = ahead and shuffle and len(rows) >= AHEAD_MIN_ROWS
        self._pool = self._pending = self._state = None
        if self._ahead:
            # Start the worker now, idle: a thread started together with its first
            # draw would hold the GIL for that draw while this thread waits for it.
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="fastml-shuffle")
            self._pool.submit(int).result()

    def __enter__(self):
        return self

    def next(self, *, more):
        """This epoch's order, shape (n_rows,); with ``more``, start drawing the next one."""
        if not self._shuffle:
            return self._rows
        if self._pending is not None:
            order, self._pending = self._pending.result(), None
        else:
            order = self._rng.permutation(self._rows)
        if more and self._ahead:
            self._state = self._rng.bit_generator.state
            self._pending = self._pool.submit(self._rng.permutation, self._rows)
        return order

    def __exit__(self, *exc):
        if self._pending is not None:  # drawn ahead, not used: undo the draw
            self._pending.result()
            self._rng.bit_generator.state = self._state
            self._pending = None
        if self._pool is not None:
            self._pool.shutdown()
        return False
