"""The training loop every model of the toolkit shares; it knows nothing of what is trained.

A task (:class:`TrainingTask`: datasets, network, loss, evaluation, and which metric picks ``best.pt`` in which
direction) is run by :func:`run_training` with a :class:`LoopConfig` (epochs, batch, :class:`OptimConfig`,
checkpoints): mixed precision on GPUs, resumable mid-epoch to bitwise-identical weights, CSV logs, torchrun DDP.
:func:`make_loader` gives loaders whose order and augmentation seeds do not depend on the number of workers.
:func:`screen_datasets` checks every sample's files before the first step (:class:`BadSamplesError` lists the bad
ones); :class:`SampleReadError` names the sample and the file of a failed read.
"""

from helpers.training.sample_check import BadSamplesError, SampleReadError, screen_datasets
from helpers.training.seeded_loader import SeededSampler, make_loader
from helpers.training.training_config import LoopConfig, OptimConfig
from helpers.training.training_loop import EvaluationTable, TrainingTask, TrainResult, run_training

__all__ = ["BadSamplesError", "EvaluationTable", "LoopConfig", "OptimConfig", "SampleReadError", "SeededSampler",
           "TrainResult", "TrainingTask", "make_loader", "run_training", "screen_datasets"]
