"""The map-reduce layer: the mapper and reducer interfaces, `ImageMapReduceTask`,
the execution backends that run cells, edge halos, copy-on-write cells, the
out-of-core driver and the numpy façade `map_reduce`.

Data flow of one run: grid (``_task``) → cells (``_cells``, ``_edges``) →
mapper on a backend (``_executors``; ``_threadpool``, ``_pools`` and its
shared memory ``_shm``, ``_daskbackend``) → reducer (``_reducer``, the
Rust ``Reducer``) → output; see ``docs/architecture.md``.
"""
