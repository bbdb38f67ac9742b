"""The evaluation pool of CMA-ES: candidates evaluated in tasks, in-process or on the workers of an
mpi4py.futures pool (`run_main`), gathered in candidate order, with deadlines (see the package docstring)."""
import concurrent.futures
import itertools
import os
import sys
import time
import traceback

import numpy as np

from worldmodels.storage import fileio


class EvaluationError(RuntimeError):
    """An evaluation task failed (on a worker or in-process); the message carries its traceback."""


# ----------------------------------------------------------------------------- MPI
def mpi_size():
    """Processes in this run, read from the launcher's environment (no MPI import needed)."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(var):
            return int(os.environ[var])
    return 1


def run_main(main):
    """Run main(executor) on rank 0 and serve evaluation tasks on the other ranks.

    One process: main(None), tasks run in-process. Under mpiexec: rank 0 gets an
    mpi4py.futures pool of the other ranks; any exception (or a non-zero exit) on rank 0,
    including a failed task, prints its message and calls MPI Abort, which ends every rank
    with a non-zero status instead of leaving workers waiting.
    """
    if mpi_size() == 1:
        return main(None)
    from mpi4py import MPI
    from mpi4py.futures import MPICommExecutor
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        return main(None)
    if comm.Get_rank() == 0:
        remove_launcher_tmp()
    with MPICommExecutor(comm, root=0) as executor:
        if executor is None:
            return None  # a worker: rank 0 has shut the pool down; just exit
        try:
            return main(executor)
        except SystemExit as e:
            if e.code in (None, 0):
                return None
            print(e.code if isinstance(e.code, str) else f"exit status {e.code}", file=sys.stderr)
        except EvaluationError as e:  # its message holds the worker's traceback
            print(f"\n[es] evaluation failed: {e}", file=sys.stderr)
        except BaseException:  # noqa: BLE001 (KeyboardInterrupt too: never leave workers behind)
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"[es] rank 0 failed: aborting all {comm.Get_size()} MPI processes", file=sys.stderr, flush=True)
        time.sleep(1.0)  # let mpiexec forward this output first: an abort can drop what it has not yet read
        comm.Abort(1)


def remove_launcher_tmp():
    """MPICH's launcher (hydra) shares the host's topology with its proxy through a file
    /tmp/hydra_hwloc_xmlfile_*, removed when the run ends normally but left behind by an abort.
    The proxy that started this process has it open and needs it no more once the ranks run: remove
    it now (Linux; found through the proxy's open files, so only this run's)."""
    proxy = f"/proc/{os.getppid()}/fd"
    try:
        for fd in os.listdir(proxy):
            target = os.readlink(os.path.join(proxy, fd))
            if os.path.basename(target).startswith("hydra_hwloc_xmlfile_") and os.path.isfile(target):
                os.remove(target)
    except OSError:
        pass


TASK_STARTED = 7301  # MPI tag (COMM_WORLD) of "task started" notes; mpi4py.futures uses its own communicator
_task_ids = itertools.count()


def _run_task(fn, params, seeds, trials, task_id=None):
    """Executed on a worker: returns (rewards (k, trials) float64, steps (k, trials) int64 or None)
    or raises EvaluationError.

    task_id (with a deadline): first tell rank 0 that this task started here (rank, host, pid)."""
    if task_id is not None:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        comm.send((task_id, comm.Get_rank(), os.uname().nodename, os.getpid()), dest=0, tag=TASK_STARTED)
    try:
        out = fn(params, seeds, trials)
        out, steps = out if isinstance(out, tuple) else (out, None)
        out = np.asarray(out, dtype=np.float64)
        steps = None if steps is None else np.asarray(steps, dtype=np.int64)
    except fileio.DataError as e:  # a named file: its one line says it all
        raise EvaluationError(f"task (candidates with seeds {list(map(int, seeds))}) failed in pid {os.getpid()} "
                              f"on {os.uname().nodename}: {e}") from None
    except BaseException:  # noqa: BLE001
        host = os.uname().nodename
        raise EvaluationError(f"task (candidates with seeds {list(map(int, seeds))}) failed in pid {os.getpid()} "
                              f"on {host}:\n{traceback.format_exc()}") from None
    for name, a in (("rewards", out), ("steps", steps)):
        if a is not None and a.shape != (len(params), trials):
            raise EvaluationError(f"evaluation function returned {name} of shape {a.shape}, "
                                  f"expected {(len(params), trials)}")
    if not np.all(np.isfinite(out)):
        raise EvaluationError(f"evaluation function returned non-finite rewards for seeds {list(map(int, seeds))}")
    return out, steps


def _results_by_deadline(futures, ids, tasks, timeout):
    """The futures' results; EvaluationError naming the worker and the task where one has run on
    its worker (since its "task started" note) for longer than `timeout` seconds."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    started = {}  # task id -> (rank, host, pid, time.monotonic() at the note)
    pending = set(range(len(futures)))
    while pending:
        while comm.iprobe(source=MPI.ANY_SOURCE, tag=TASK_STARTED):
            task_id, rank, host, pid = comm.recv(source=MPI.ANY_SOURCE, tag=TASK_STARTED)
            started[task_id] = (rank, host, pid, time.monotonic())
        pending = {i for i in pending if not futures[i].done()}
        for i in sorted(pending):
            if ids[i] in started and time.monotonic() - started[ids[i]][3] > timeout:
                rank, host, pid, _ = started[ids[i]]
                raise EvaluationError(
                    f"task (candidates with seeds {list(map(int, tasks[i][1]))}) has run for more than "
                    f"{timeout:g} s (task_timeout) on MPI rank {rank}, host {host}, pid {pid}: that worker hangs. "
                    "Ending the run; the same command resumes from the last finished generation")
        concurrent.futures.wait([futures[i] for i in pending], timeout=0.05,
                                return_when=concurrent.futures.FIRST_COMPLETED)
    return [f.result() for f in futures]


def task_size(chunk, count, executor=None, group=1):
    """Candidates per task: `chunk`, or for chunk <= 0 an even split, one task per worker; rounded
    up to a multiple of `group` (so that no task splits a group of candidates that are computed
    together: dream.dream_rollouts)."""
    if chunk <= 0:
        workers = 1 if executor is None else max(1, getattr(executor, "num_workers", mpi_size() - 1))
        chunk = max(1, -(-count // workers))
    return -(-chunk // group) * group


def evaluate(fn, params, seeds, trials, executor=None, chunk=0, timeout=0.0, counted=False):
    """Rewards (len(params), trials) in candidate order; tasks of task_size(chunk) candidates, cut
    at multiples of fn's `group` attribute where it has one (candidates computed together).
    timeout > 0 (MPI only): a task that runs longer on its worker ends the run (EvaluationError).
    counted=True: (rewards, the env steps all the rollouts took, or None where fn does not count them)."""
    params = np.asarray(params)
    seeds = np.asarray(seeds, dtype=np.int64)
    chunk = task_size(chunk, len(params), executor, max(1, int(getattr(fn, "group", 1))))
    starts = range(0, len(params), chunk)
    tasks = [(params[i:i + chunk], seeds[i:i + chunk]) for i in starts]
    if executor is None:
        results = [_run_task(fn, p, s, trials) for p, s in tasks]
    else:
        ids = [next(_task_ids) if timeout and timeout > 0 else None for _ in tasks]
        futures = [executor.submit(_run_task, fn, p, s, trials, i) for (p, s), i in zip(tasks, ids)]
        if timeout and timeout > 0:
            results = _results_by_deadline(futures, ids, tasks, timeout)
        else:
            results = [f.result() for f in futures]  # re-raises a worker's EvaluationError
    rewards = np.concatenate([r for r, _ in results], axis=0)
    if not counted:
        return rewards
    steps = None if any(n is None for _, n in results) else int(sum(int(n.sum()) for _, n in results))
    return rewards, steps


