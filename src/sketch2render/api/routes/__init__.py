"""HTTP routes, one APIRouter per area: health (and metrics), styles, renders, feedback."""
