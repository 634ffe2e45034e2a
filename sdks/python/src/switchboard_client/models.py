"""The API's models (generated from /openapi.json): ``switchboard_client.models.ConnectionBody``, …"""

from .generated.models import *  # noqa: F403
from .generated.models import __all__ as __all__
