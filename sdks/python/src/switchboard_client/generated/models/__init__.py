"""Contains all the data models used in inputs/outputs"""

from .api_key_list import ApiKeyList
from .api_key_view import ApiKeyView
from .attempt_view import AttemptView
from .audit_list import AuditList
from .audit_row import AuditRow
from .chain_break_gap import ChainBreakGap
from .chain_break_gap_gap import ChainBreakGapGap
from .chain_break_truncated import ChainBreakTruncated
from .chain_break_truncated_truncated import ChainBreakTruncatedTruncated
from .chain_break_type_0 import ChainBreakType0
from .chain_break_type_1 import ChainBreakType1
from .chain_break_type_4 import ChainBreakType4
from .checked_connection import CheckedConnection
from .checklist_item_view import ChecklistItemView
from .connect_session_body import ConnectSessionBody
from .connect_session_created import ConnectSessionCreated
from .connection_body import ConnectionBody
from .connection_body_settings import ConnectionBodySettings
from .connection_list import ConnectionList
from .connections_health_view import ConnectionsHealthView
from .consent_view import ConsentView
from .create_api_key import CreateApiKey
from .created_api_key import CreatedApiKey
from .credentials_body import CredentialsBody
from .deliveries_health_view import DeliveriesHealthView
from .delivery_counts_view import DeliveryCountsView
from .delivery_view import DeliveryView
from .destination_change import DestinationChange
from .destination_health_view import DestinationHealthView
from .destination_list import DestinationList
from .destination_view import DestinationView
from .direct_connect_body import DirectConnectBody
from .direct_connect_body_settings import DirectConnectBodySettings
from .disable_request import DisableRequest
from .disconnect_body import DisconnectBody
from .disconnect_result import DisconnectResult
from .enable_request import EnableRequest
from .end_user_body import EndUserBody
from .end_user_export_body import EndUserExportBody
from .erase_request import EraseRequest
from .erased_connection_view import ErasedConnectionView
from .erasure_answer import ErasureAnswer
from .erasure_counts_view import ErasureCountsView
from .error_body import ErrorBody
from .error_detail import ErrorDetail
from .event_detail_view import EventDetailView
from .event_list import EventList
from .event_view import EventView
from .exported_delivery_view import ExportedDeliveryView
from .exported_event_view import ExportedEventView
from .integration_health_body import IntegrationHealthBody
from .integration_health_body_connections import IntegrationHealthBodyConnections
from .integration_health_view import IntegrationHealthView
from .integration_list import IntegrationList
from .integration_view import IntegrationView
from .mapping_detail import MappingDetail
from .mapping_view import MappingView
from .o_auth_test_check import OAuthTestCheck
from .o_auth_test_result import OAuthTestResult
from .purge_answer import PurgeAnswer
from .purge_request import PurgeRequest
from .queue_view import QueueView
from .readiness_view import ReadinessView
from .refreshed_connection import RefreshedConnection
from .replay_answer import ReplayAnswer
from .replay_one import ReplayOne
from .replay_request import ReplayRequest
from .status_view import StatusView
from .thresholds_view import ThresholdsView
from .token_body import TokenBody
from .verify_result import VerifyResult
from .webhooks_health_view import WebhooksHealthView
from .webhooks_health_view_refused_by_reason import WebhooksHealthViewRefusedByReason

__all__ = (
    "ApiKeyList",
    "ApiKeyView",
    "AttemptView",
    "AuditList",
    "AuditRow",
    "ChainBreakGap",
    "ChainBreakGapGap",
    "ChainBreakTruncated",
    "ChainBreakTruncatedTruncated",
    "ChainBreakType0",
    "ChainBreakType1",
    "ChainBreakType4",
    "CheckedConnection",
    "ChecklistItemView",
    "ConnectSessionBody",
    "ConnectSessionCreated",
    "ConnectionBody",
    "ConnectionBodySettings",
    "ConnectionList",
    "ConnectionsHealthView",
    "ConsentView",
    "CreateApiKey",
    "CreatedApiKey",
    "CredentialsBody",
    "DeliveriesHealthView",
    "DeliveryCountsView",
    "DeliveryView",
    "DestinationChange",
    "DestinationHealthView",
    "DestinationList",
    "DestinationView",
    "DirectConnectBody",
    "DirectConnectBodySettings",
    "DisableRequest",
    "DisconnectBody",
    "DisconnectResult",
    "EnableRequest",
    "EndUserBody",
    "EndUserExportBody",
    "EraseRequest",
    "ErasedConnectionView",
    "ErasureAnswer",
    "ErasureCountsView",
    "ErrorBody",
    "ErrorDetail",
    "EventDetailView",
    "EventList",
    "EventView",
    "ExportedDeliveryView",
    "ExportedEventView",
    "IntegrationHealthBody",
    "IntegrationHealthBodyConnections",
    "IntegrationHealthView",
    "IntegrationList",
    "IntegrationView",
    "MappingDetail",
    "MappingView",
    "OAuthTestCheck",
    "OAuthTestResult",
    "PurgeAnswer",
    "PurgeRequest",
    "QueueView",
    "ReadinessView",
    "RefreshedConnection",
    "ReplayAnswer",
    "ReplayOne",
    "ReplayRequest",
    "StatusView",
    "ThresholdsView",
    "TokenBody",
    "VerifyResult",
    "WebhooksHealthView",
    "WebhooksHealthViewRefusedByReason",
)
