"""Python threads: the bindings run C++ without the GIL, so two threads with a pipeline each run at once and must
give exactly what the same runs give one after the other; two threads sharing one pipeline take turns (its frame
memory is its own) and must get the same too. Each thread runs several frames so that the runs overlap."""

import threading
import time

import numpy as np
import pytest

import voxformer

FRAMES = 6


def run_in_threads(jobs):
    """Runs each job (a callable returning a list of results) in its own thread, started together; returns their
    results in order, re-raising the first exception a thread met."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def worker(i, job):
        try:
            barrier.wait(timeout=30)
            results[i] = job()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


def frames_of(case, pipeline, frames=FRAMES):
    return lambda: [case.run(pipeline, logits=True, stages=True) for _ in range(frames)]


def assert_same(result, expected):
    assert np.array_equal(result["labels"], expected["labels"])
    assert np.array_equal(result["logits"], expected["logits"])
    assert result["stages"].keys() == expected["stages"].keys()
    for stage in expected["stages"]:
        assert np.array_equal(result["stages"][stage], expected["stages"][stage]), stage


def test_two_fixture_pipelines_at_once_equal_one_after_the_other(load_pipeline_case):
    cases = [load_pipeline_case("t_small"), load_pipeline_case("s3d_small")]
    pipelines = [case.pipeline(threads=1) for case in cases]
    sequential = [case.run(pipeline, logits=True, stages=True) for case, pipeline in zip(cases, pipelines)]
    concurrent = run_in_threads([frames_of(case, pipeline) for case, pipeline in zip(cases, pipelines)])
    for results, expected in zip(concurrent, sequential):
        for result in results:
            assert_same(result, expected)


def test_two_random_weight_pipelines_at_once(load_pipeline_case):
    case = load_pipeline_case("t_small")
    config = voxformer.load_config(case.config_path)
    pipelines = [voxformer.Pipeline(config=config, seed=seed, threads=2) for seed in (21, 22)]
    sequential = [case.run(pipeline, logits=True, stages=True) for pipeline in pipelines]
    assert not np.array_equal(sequential[0]["logits"], sequential[1]["logits"])
    concurrent = run_in_threads([frames_of(case, pipeline) for pipeline in pipelines])
    for results, expected in zip(concurrent, sequential):
        for result in results:
            assert_same(result, expected)


def test_two_threads_sharing_one_pipeline_take_turns(t_small, t_small_result):
    pipeline = t_small.pipeline()
    concurrent = run_in_threads([frames_of(t_small, pipeline), frames_of(t_small, pipeline)])
    for results in concurrent:
        for result in results:
            assert_same(result, t_small_result)


def test_primitives_and_stage_1_in_threads(fixtures_dir):
    rng = np.random.default_rng(0)
    masks = [(rng.random((32, 16, 8)) < p).astype(np.uint8) for p in (0.2, 0.6)]
    network = voxformer.ProposalNetwork(seed=4, grid=(32, 16, 8), threads=1)
    other = voxformer.ProposalNetwork(seed=4, grid=(32, 16, 8), threads=1)
    expected_lists = [voxformer.proposal_indices(m) for m in masks]
    expected_proposals = [network.run(m, logits=True) for m in masks]

    def job(i, net):
        def run():
            out = []
            for _ in range(FRAMES):
                out.append((voxformer.proposal_indices(masks[i], threads=1), net.run(masks[i], logits=True)))
            return out
        return run

    for i, results in enumerate(run_in_threads([job(0, network), job(1, other)])):
        for lists, proposal in results:
            assert np.array_equal(lists[0], expected_lists[i][0]) and np.array_equal(lists[1], expected_lists[i][1])
            assert np.array_equal(proposal["logits"], expected_proposals[i]["logits"])


def test_a_long_call_lets_other_python_threads_run():
    # While ms_deform_attn runs (long enough: the case grows until one call takes >= 0.2 s), a Python thread that
    # needs the GIL every millisecond must make progress inside the call's span: the GIL is released.
    rng = np.random.default_rng(1)
    value = rng.standard_normal((1, 60 * 80, 8, 32)).astype(np.float32)
    shapes, starts = np.array([[60, 80]]), np.array([0])
    block = rng.random((1, 1000, 8, 1, 8, 2)).astype(np.float32)
    for blocks in (40, 80, 160, 320):
        loc = np.tile(block, (1, blocks, 1, 1, 1, 1))
        weights = np.ones(loc.shape[:-1], np.float32)
        start = time.perf_counter()
        voxformer.ms_deform_attn(value, shapes, starts, loc, weights, threads=1)
        if time.perf_counter() - start >= 0.2:
            break
    else:
        pytest.skip("no case long enough")

    stamps, stop = [], threading.Event()

    def ticker():
        while not stop.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    time.sleep(0.02)
    begin = time.perf_counter()
    voxformer.ms_deform_attn(value, shapes, starts, loc, weights, threads=1)
    end = time.perf_counter()
    stop.set()
    thread.join()
    inside = [t for t in stamps if begin + 0.04 < t < end - 0.04]
    assert end - begin >= 0.12
    assert len(inside) >= 3, f"the other thread ran {len(inside)} times during a {end - begin:.2f} s call"
