"""Region styles on `POST /v1/renders`: repeated `region_mask` files with matching `region_prompt`
fields (the n-th prompt belongs to the n-th mask). Each mask is checked as it arrives (the sketch's
size, not empty: 422s naming `region_mask`), named by its sha256 in the parameters, and stored beside
the sketch for the worker (jobs/job.py: REGION_MASK_NAME)."""

from __future__ import annotations

from fastapi import UploadFile
from pydantic import ValidationError

from ..config import Settings
from ..errors import InvalidParameter
from ..families import get_family
from ..jobs.job import REGION_MASK_NAME
from ..schemas import MAX_REGIONS, RenderParams
from ..sketch.masks import decode_mask, mask_sha256
from .handlers import from_validation_error

FIELDS = ("region_mask", "region_prompt")


def region_inputs(
    masks: list[UploadFile] | None,
    prompts: list[str] | None,
    params: RenderParams,
    *,
    sketch_size: tuple[int, int],
    settings: Settings,
) -> tuple[RenderParams, dict[str, bytes]]:
    """The parameters with their regions, and the mask files to store; 422s name the field."""
    masks, prompts = masks or [], prompts or []
    if len(masks) != len(prompts):
        field = "region_prompt" if len(masks) > len(prompts) else "region_mask"
        raise InvalidParameter(
            f"{field}: {len(masks)} region_mask file(s) and {len(prompts)} region_prompt(s); give one prompt per mask",
            field=field,
        )
    if len(masks) > MAX_REGIONS:
        raise InvalidParameter(f"region_mask: at most {MAX_REGIONS} regions, got {len(masks)}", field="region_mask")
    if not masks:
        return params, {}
    family = get_family(params.family)
    if "regions" in family.unsupported:
        why = family.unsupported["regions"]
        raise InvalidParameter(f"region_mask: not available on the {family.name} family ({why})", field="region_mask")
    data = [mask.file.read(settings.max_upload_bytes + 1) for mask in masks]
    for mask in data:
        decode_mask(mask, settings.limits, size=sketch_size, field="region_mask")
    regions = [{"prompt": p, "mask_sha256": mask_sha256(d)} for p, d in zip(prompts, data, strict=True)]
    try:
        params = RenderParams.model_validate({**params.model_dump(), "regions": regions})
    except ValidationError as exc:
        err = from_validation_error(exc, ("regions", "auto_balance"))
        if err.field == "regions":
            raise InvalidParameter(err.message.replace("regions", "region_prompt", 1), field="region_prompt") from None
        raise err from None
    return params, {REGION_MASK_NAME.format(index=i): d for i, d in enumerate(data)}
