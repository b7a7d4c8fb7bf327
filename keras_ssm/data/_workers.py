"""Running a disk builder's tasks in worker processes, results in task order.

The builders (`listops_subtrees_build`, `pathfinder_segmentation_build`) seed each
task from its index, so their files do not depend on the number of workers.
"""

import contextlib
import multiprocessing


@contextlib.contextmanager
def map_in_workers(function, tasks, workers):
    """Yields the results of `function` over `tasks`, in order, from `workers` processes.

    With `workers` > 1 a `multiprocessing` pool computes the results ahead of the
    reader (`Pool.imap`); leaving the block (done, `break` or an error) terminates
    the pool. With 1 the results are computed here, one by one, as they are read.

    Args:
        function: a picklable (module-level) function of one task.
        tasks: an iterable of tasks (picklable when `workers` > 1).
        workers: int >= 1, the number of processes.

    Yields:
        An iterator over `function(task)` for each task, in the order of `tasks`.

    Example:

    ```python
    from keras_ssm.data._workers import map_in_workers

    with map_in_workers(abs, [-1, 2, -3], workers=1) as results:
        print(list(results))    # [1, 2, 3]
    ```
    """
    pool = None
    try:
        if workers > 1:
            pool = multiprocessing.get_context().Pool(workers)
            yield pool.imap(function, tasks)
        else:
            yield map(function, tasks)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
