"""Games in worker processes: `WorkerPool`, whose workers shut their engines down on Ctrl-C or an
error, and whose dead worker ends the run instead of hanging it; the signal deferral of game calls."""
import concurrent.futures
import os
import signal
from concurrent.futures.process import BrokenProcessPool



# Measured here: on Ctrl-C (the SIGINT reaches the engine processes too) or a SIGTERM to the worker, runs
# hung, the Python side and the engine each waiting for the other, or left engines running. So while
# a game call is in progress SIGINT / SIGTERM are only recorded; the engine exits on its own SIGINT
# (the call then fails) and the exception is raised once the call has returned.
_in_game = False
_pending = None  # exception to raise when the current game call returns


def deferring(exc):
    def handler(signum, frame):
        global _pending
        if _in_game:
            _pending = exc
        else:
            raise exc()
    return handler


def game_call(fn, *args):
    global _in_game, _pending
    _in_game, out = True, None
    try:
        out = fn(*args)
    except Exception:
        if _pending is None:
            raise
    finally:
        _in_game = False
    if _pending is not None:  # the call failed because the engine got the signal too, or it returned
        exc, _pending = _pending, None
        raise exc()
    return out


class WorkerExit(SystemExit):
    def __init__(self):
        super().__init__(1)


def worker_init():
    """Initializer of WorkerPool's workers, which hold a game. Ctrl-C: workers (and the engines they
    start, which inherit this) ignore SIGINT; the parent gets it and terminates the workers. That
    sends SIGTERM, which would kill a worker without cleanup and leave its engine running (holding
    our stdout): exit through SystemExit instead, after the current game call, so the game is closed.
    Each worker leads its own process group, which the engines it starts join: a worker that dies
    abruptly cannot close its engine, so WorkerPool kills what is left of that group."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, deferring(WorkerExit))
    os.setpgid(0, 0)


class WorkerDied(RuntimeError):
    """A WorkerPool worker ended abruptly (a crash in the game, a kill, e.g. out of memory): its
    task is lost and the pool is unusable."""


_stopping = False  # in a worker: it was terminated (SIGTERM) and runs no further task


def _run_task(fn, job):
    """fn(job) in a worker. The executor would send worker_init's WorkerExit (a SystemExit) back as
    the task's result and keep the worker running; report WorkerDied instead, answer any task still
    queued for this worker at once, and leave the exit to the executor's stop signal."""
    global _stopping
    if not _stopping:
        try:
            return fn(job)
        except WorkerExit:
            _stopping = True
    raise WorkerDied(f"a worker process (pid {os.getpid()}) was terminated (SIGTERM)")


def _exit_status(code):
    if code >= 0:
        return f"exit code {code}"
    try:  # multiprocessing reports a death by signal N as exit code -N
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class WorkerPool:
    """Worker processes that hold games (worker_init), results as each task finishes:

        with envs.WorkerPool(workers) as pool:
            for result in pool.imap_unordered(fn, jobs):  # fn top-level; its errors are re-raised here

    A worker that dies abruptly (a crash in the game, an out-of-memory kill) raises WorkerDied:
    multiprocessing.Pool would replace it and wait forever for its task. Leaving the block by an
    exception (an error, Ctrl-C) terminates the workers, which close their games first."""

    def __init__(self, workers):
        # the default start method (fork on Linux), as multiprocessing.Pool had: a module-level
        # cache in fn (one game per worker) lives in each worker
        self._executor = concurrent.futures.ProcessPoolExecutor(workers, initializer=worker_init)
        # the executor's own table of its processes, filled as they start (Python 3.14's
        # terminate_workers() reads it too); kept, as shutdown() drops the executor's reference
        self._workers = self._executor._processes

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._executor.shutdown()
        else:
            self.terminate()

    def imap_unordered(self, fn, jobs):
        """An iterator over fn(job) for all jobs, in the order they finish. Every job is submitted
        here, so the workers start now (fork), before the caller starts threads (a progress bar)."""
        try:
            futures = [self._executor.submit(_run_task, fn, job) for job in jobs]
        except BrokenProcessPool:
            raise self._died() from None
        return self._results(futures)

    def _results(self, futures):
        try:
            for f in concurrent.futures.as_completed(futures):
                yield f.result()
        except BrokenProcessPool:
            raise self._died() from None

    def _died(self):
        self._executor.shutdown()  # the executor has terminated the other workers: wait for them
        self._kill_orphans()
        codes = [p.exitcode for p in self._workers.values() if p.exitcode]
        # a signal names the death best; siblings terminated while idle exit with code 1
        ends = sorted({_exit_status(c) for c in codes if c < 0}) or sorted({_exit_status(c) for c in codes})
        return WorkerDied(f"a worker process died ({', '.join(ends) or 'ended abruptly'})")

    def terminate(self):
        """Stop now: queued jobs are dropped and running ones interrupted (SIGTERM, after which each
        worker closes its game, see worker_init); returns once the workers have exited."""
        workers = list(self._workers.values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for p in workers:
            if p.exitcode is None:
                p.terminate()
        for p in workers:
            p.join()
        self._kill_orphans()

    def _kill_orphans(self):
        """SIGKILL whatever outlived the (exited) workers in their process groups: the game engine
        of a worker that died without closing it (ViZDoom's runs as its own process)."""
        for pid in list(self._workers):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # nothing left of that group
                pass
