"""One downloader for models and datasets: cached, resumable, verified, never half-written.

:func:`download` fetches one URL into the cache (:func:`default_cache_dir`, ``$HELPERS_CACHE``); :func:`fetch`
fetches a typed source (:class:`HttpSource`, :class:`GoogleDriveSource`, :class:`KaggleSource`,
:class:`HuggingFaceSource`, :class:`ManualSource`) into a folder, unpacking archives. Back-ends that need an optional
package (``gdown``, ``kaggle``, ``huggingface_hub``) import it only when used.
"""

from helpers.download.fetcher import fetch, is_fetched
from helpers.download.http_download import (
    ChecksumError,
    DownloadError,
    DownloadInterruptedError,
    default_cache_dir,
    download,
    sha256_file,
    verify_file,
)
from helpers.download.sources import (
    GoogleDriveSource,
    HttpSource,
    HuggingFaceSource,
    KaggleSource,
    ManualSource,
    MissingBackendError,
    Source,
    describe,
)

__all__ = [
    "ChecksumError", "DownloadError", "DownloadInterruptedError", "GoogleDriveSource", "HttpSource",
    "HuggingFaceSource", "KaggleSource", "ManualSource", "MissingBackendError", "Source", "default_cache_dir",
    "describe", "download", "fetch", "is_fetched", "sha256_file", "verify_file",
]
