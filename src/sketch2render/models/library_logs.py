"""Keep library chatter (progress bars, the no-torchvision notice, fp16 cast notices) out of our
output: for good in a server or CLI process, or for the duration of a model build."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def quiet_libraries() -> None:
    """Silence diffusers and transformers for the rest of the process (servers, CLI commands)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module="diffusers")
    # diffusers 0.42 still passes `local_dir_use_symlinks` to huggingface_hub 2, which warns on every load.
    warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
    # transformers first: importing diffusers touches transformers' image processors, which log the
    # "requires torchvision; falling back to the PIL processor" notice (harmless here: no torchvision).
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


@contextmanager
def quieted() -> Iterator[None]:
    """No "Writing model shards" bars or cast notices while building; restored afterwards."""
    from transformers.utils import logging as transformers_logging

    bars = transformers_logging.is_progress_bar_enabled()
    transformers_verbosity = transformers_logging.get_verbosity()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()  # before diffusers' import (see quiet_libraries)
    from diffusers.utils import logging as diffusers_logging

    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)
        transformers_logging.set_verbosity(transformers_verbosity)
        if bars:
            transformers_logging.enable_progress_bar()
