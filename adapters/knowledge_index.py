"""The retrieval index over help-centre articles and solved tickets: `bm25s`
(chosen because it is a maintained, in-process BM25 on numpy that scores 100,000
documents in milliseconds), one shard per language, with that language's
Snowball stemmer (PyStemmer) and stop words.

Shards live under the state folder (`<folder>/<language>/`); a shard is rebuilt
only when the documents of its language changed, and is swapped in atomically
(a new version folder, then the `CURRENT` pointer), so a worker reading it while
`csops import` writes never sees half an index. Readers notice a new version
and reload it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import bm25s
import Stemmer

from adapters.reading.folding import fold

# PyStemmer's algorithm for each handled language (bm25s names stop-word lists by code).
_STEMMERS = {"en": "english", "de": "german", "es": "spanish", "fr": "french", "pt": "portuguese"}
_CURRENT = "CURRENT"
_IDS = "ids.json"


@dataclass(frozen=True)
class Hit:
    source_id: str
    score: float


@dataclass
class _Shard:
    version: str
    retriever: bm25s.BM25
    ids: list[str]


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMERS[language])


def _tokenize(texts: list[str], language: str, **how: Any):
    """Folded, stop words dropped, stemmed: the same for documents and questions."""
    language = language if language in _STEMMERS else "en"
    return bm25s.tokenize([fold(t) for t in texts], stopwords=language,
                          stemmer=_stemmer(language), show_progress=False, **how)  # fmt: skip


def terms(text: str, language: str) -> list[str]:
    """The text's searchable terms."""
    return list(_tokenize([text], language, return_ids=False)[0])


def content_version(docs: Sequence[tuple[str, str]]) -> str:
    """A hash of the documents: the same documents give the same shard version."""
    digest = hashlib.sha256()
    for source_id, text in sorted(docs):
        digest.update(source_id.encode())
        digest.update(b"\0")
        digest.update(text.encode())
        digest.update(b"\1")
    return digest.hexdigest()[:16]


class KnowledgeIndex:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._shards: dict[str, _Shard] = {}

    def languages(self) -> list[str]:
        if not self.folder.exists():
            return []
        return sorted(p.name for p in self.folder.iterdir() if (p / _CURRENT).exists())

    def version(self, language: str) -> str | None:
        pointer = self.folder / language / _CURRENT
        return pointer.read_text().strip() if pointer.exists() else None

    def rebuild(self, language: str, docs: Sequence[tuple[str, str]]) -> bool:
        """Make the language's shard hold exactly `docs` ((source_id, text) pairs).
        False when it already did: nothing is written."""
        version = content_version(docs)
        if self.version(language) == version:
            return False
        shard_dir = self.folder / language
        target = shard_dir / version
        staging = shard_dir / f".{version}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        retriever = bm25s.BM25()
        if docs:
            retriever.index(_tokenize([text for _, text in docs], language), show_progress=False)
            retriever.save(str(staging), show_progress=False)
        (staging / _IDS).write_text(json.dumps([source_id for source_id, _ in docs]))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        pointer = shard_dir / f".{_CURRENT}.{os.getpid()}"
        pointer.write_text(version)
        os.replace(pointer, shard_dir / _CURRENT)  # atomic: readers see old or new
        for old in shard_dir.iterdir():  # earlier versions; dot-names are being written
            if old.is_dir() and old.name != version and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        return True

    def _shard(self, language: str) -> _Shard | None:
        version = self.version(language)
        if version is None:
            return None
        cached = self._shards.get(language)
        if cached and cached.version == version:
            return cached
        folder = self.folder / language / version
        ids = json.loads((folder / _IDS).read_text())
        retriever = bm25s.BM25.load(str(folder), show_progress=False) if ids else bm25s.BM25()
        shard = _Shard(version, retriever, ids)
        self._shards[language] = shard
        return shard

    def search(self, query: str, language: str, k: int = 5) -> list[Hit]:
        """The best `k` documents of the language's shard, best first (score > 0)."""
        shard = self._shard(language)
        if shard is None or not shard.ids:
            return []
        query_terms = terms(query, language)
        if not query_terms:
            return []
        docs, scores = shard.retriever.retrieve(
            # n_threads=0: sequential; 1 starts a thread pool per call (+0.6 ms p50, bench/)
            [query_terms],
            k=min(k, len(shard.ids)),
            show_progress=False,
            n_threads=0,
        )
        return [
            Hit(shard.ids[int(i)], round(float(s), 3))
            for i, s in zip(docs[0], scores[0], strict=True)
            if s > 0
        ]
