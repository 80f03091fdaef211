"""Learned entropy models of stored tensors, one file per kind (see ``base`` for the interface).

* ``factorized.Factorized`` (coder ``laplace``): one discretised Laplace per tensor, its
  parameter stored (weights, biases);
* ``factorized.ZeroFactorized`` (coder ``laplace0``): one zero-inflated Laplace per tensor
  (``zero_laplace``: its own probability of 0 and a geometric tail), for sparse weights;
* ``previous_frame.PreviousFrame`` (coder ``laplace_prev``): per-frame latents predicted from the
  previous frame, one Laplace per channel (HNeRV's embeddings);
* ``latent_context.LatentContext`` (coder ``laplace_ctx``): latent grids predicted from the previous
  frame and a checkerboard of the current one, a Laplace per pass and activity bucket (``model=latent``);
* ``latent_neighbours.LatentNeighbours`` (coder ``laplace_nb``): the same passes with a weight per
  neighbour and a learned scale rule (``compress.latent_model=nb``);
* ``latent_neighbours_mc.LatentNeighboursMC`` (coder ``laplace_nbm``): laplace_nb reading each slice's
  predecessor moved by a stored whole-latent shift (the encoder's choice where it codes shorter).
"""
from __future__ import annotations

from .base import EntropyModel
from .factorized import Factorized, ZeroFactorized
from .latent_context import LatentContext
from .latent_neighbours import LatentNeighbours
from .latent_neighbours_mc import LatentNeighboursMC
from .previous_frame import PreviousFrame

MODELS: dict[str, EntropyModel] = {m.coder: m for m in (Factorized(), ZeroFactorized(), PreviousFrame(), LatentContext(),
                                                          LatentNeighbours(), LatentNeighboursMC())}


def model_for(coder: str) -> EntropyModel:
    return MODELS[coder]
