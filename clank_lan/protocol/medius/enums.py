"""Medius enumerations (protocol reference medius-messages.md §4), all int32 on the wire unless noted.

Message fields are typed ``int`` so that values a title sends outside these enums still decode;
the enums compare equal to plain ints.
"""

from __future__ import annotations

import enum


class CallbackStatus(enum.IntEnum):
    """``MediusCallbackStatus``, the ``status`` field of responses: >= 0 success-ish, < 0 failure."""

    SUCCESS = 0
    NO_RESULT = 1
    REQUEST_ACCEPTED = 2
    WORLD_CREATED_SIZE_REDUCED = 3
    PASS = 4
    IN_QUEUE = 5
    JOIN_ASSIGNED_GAME = 6
    MATCH_TYPE_HOST_GAME = 7
    MATCH_TYPE_REFERRAL = 8
    ALREADY_IN_LEAST_POPULATED_CHANNEL = 9
    VULGARITY_FOUND = 10
    MATCHING_IN_PROGRESS = 11
    EXTRA = -1
    BEGIN_SESSION_FAILED = -1000
    ACCOUNT_ALREADY_EXISTS = -999
    ACCOUNT_NOT_FOUND = -998
    ACCOUNT_LOGGED_IN = -997
    END_SESSION_FAILED = -996
    LOGIN_FAILED = -995
    REGISTRATION_FAILED = -994
    INCORRECT_LOGIN_STEP = -993
    ALREADY_LEADER_OF_CLAN = -992
    WM_ERROR = -991
    NOT_CLAN_LEADER = -990
    PLAYER_NOT_PRIVILEGED = -989
    DB_ERROR = -988
    DME_ERROR = -987
    EXCEEDS_MAX_WORLDS = -986
    REQUEST_DENIED = -985
    SET_GAME_LIST_FILTER_FAILED = -984
    CLEAR_GAME_LIST_FILTER_FAILED = -983
    GET_GAME_LIST_FILTER_FAILED = -982
    NUM_FILTERS_AT_MAX = -981
    FILTER_NOT_FOUND = -980
    INVALID_REQUEST_MSG = -979
    INVALID_PASSWORD = -978
    GAME_NOT_FOUND = -977
    CHANNEL_NOT_FOUND = -976
    GAME_NAME_EXISTS = -975
    CHANNEL_NAME_EXISTS = -974
    GAME_NAME_NOT_FOUND = -973
    PLAYER_BANNED = -972
    CLAN_NOT_FOUND = -971
    CLAN_NAME_IN_USE = -970
    SESSION_KEY_INVALID = -969
    TEXT_STRING_INVALID = -968
    FILTER_FAILED = -967
    FAIL = -966
    FILE_INTERNAL_ACCESS_ERROR = -965
    FILE_NO_PERMISSIONS = -964
    FILE_DOES_NOT_EXIST = -963
    FILE_ALREADY_EXISTS = -962
    FILE_INVALID_FILENAME = -961
    FILE_QUOTA_EXCEEDED = -960
    CACHE_FAILURE = -959
    DATA_ALREADY_EXISTS = -958
    DATA_DOES_NOT_EXIST = -957
    MAX_EXCEEDED = -956
    KEY_ERROR = -955
    INCOMPATIBLE_APP_ID = -954
    ACCOUNT_BANNED = -953
    MACHINE_BANNED = -952
    LEADER_CANNOT_LEAVE_CLAN = -951
    FEATURE_NOT_ENABLED = -950
    DNAS_SIGNATURE_LOGGED_IN = -949
    WORLD_IS_FULL = -948
    NOT_CLAN_MEMBER = -947
    SERVER_BUSY = -946
    NUM_GAME_WORLDS_PER_LOBBY_WORLD_EXCEEDED = -945
    ACCOUNT_NOT_UC_COMPLIANT = -944
    PASSWORD_NOT_UC_COMPLIANT = -943
    GATEWAY_ERROR = -942
    TRANSACTION_CANCELED = -941
    SESSION_FAIL = -940
    TOKEN_ALREADY_TAKEN = -939
    TOKEN_DOES_NOT_EXIST = -938
    SUBSCRIPTION_ABORTED = -937
    SUBSCRIPTION_INVALID = -936
    NOT_A_MEMBER = -935
    BILLING_VERIFICATION_REQUIRED = -934
    ACCESS_LEVEL_INSUFFICIENT = -933
    WORLD_CLOSED = -932
    TRANSACTION_TIMED_OUT = -931
    STEP_SEND_FAILED = -930
    MATCH_TYPE_NO_MATCH_DEPRECATED = -929
    MATCH_SERVER_NOT_FOUND = -928
    MATCH_GAME_CREATION_FAILED = -927
    GAME_LIST_SORT_OPERATION_FAILED = -926
    NUM_SORT_CRITERIA_AT_MAX = -925
    SORT_CRITERIA_NOT_FOUND = -924
    ENTITLEMENT_CHECK_FAILED = -923


# --- worlds and games ---------------------------------------------------------------------------


class WorldStatus(enum.IntEnum):
    INACTIVE = 0
    STAGING = 1  # lobby of a game, joinable
    ACTIVE = 2  # in progress
    CLOSED = 3
    PENDING_CREATION = 4
    PENDING_CONNECT_TO_GAME = 5


class GameHostType(enum.IntEnum):
    """``MGCL_GAME_HOST_TYPE`` / ``MediusGameHostType``: the ``game_host_type`` field."""

    CLIENT_SERVER = 0  # a DME
    INTEGRATED_SERVER = 1
    PEER_TO_PEER = 2
    LAN_PLAY = 3
    CLIENT_SERVER_AUX_UDP = 4
    CLIENT_SERVER_UDP = 5
    INDEPENDENT = 6


class WorldAttributes(enum.IntFlag):
    NONE = 0
    ALLOW_REBROADCAST = 1
    ALLOW_SPECTATOR = 2
    INTERNAL = 4
    RECORD = 8


class WorldSecurityLevel(enum.IntFlag):
    NONE = 0
    PLAYER_PASSWORD = 1
    CLOSED = 2
    SPECTATOR_PASSWORD = 4


class JoinType(enum.IntEnum):
    PLAYER = 0
    SPECTATOR = 1
    MASS_SPECTATOR = 2


class GenericFieldLevel(enum.IntFlag):
    """``MediusWorldGenericFieldLevelType`` and ``MediusLobbyFilterMaskLevelType``."""

    LEVEL0 = 0
    LEVEL1 = 0x1
    LEVEL2 = 0x2
    LEVEL3 = 0x4
    LEVEL4 = 0x8
    LEVEL12 = 0x10
    LEVEL123 = 0x20
    LEVEL1234 = 0x40
    LEVEL23 = 0x80
    LEVEL234 = 0x100
    LEVEL34 = 0x200


class GameListFilterField(enum.IntEnum):
    PLAYER_COUNT = 1
    MIN_PLAYERS = 2
    MAX_PLAYERS = 3
    GAME_LEVEL = 4
    PLAYER_SKILL_LEVEL = 5
    RULES_SET = 6
    GENERIC_FIELD_1 = 7
    GENERIC_FIELD_2 = 8
    GENERIC_FIELD_3 = 9
    LOBBY_WORLDID = 0x0A
    GENERIC_FIELD_4 = 0x0B
    GENERIC_FIELD_5 = 0x0C
    GENERIC_FIELD_6 = 0x0D
    GENERIC_FIELD_7 = 0x0E
    GENERIC_FIELD_8 = 0x0F
    MATCH_MAKING_GAMES = 0x10
    LOCATION_ID = 0x11
    BUDDY_COUNT = 0x12
    CLAN_MEMBER_COUNT = 0x13
    IGNORED_PLAYER_COUNT = 0x14


class ComparisonOperator(enum.IntEnum):
    LESS_THAN = 0
    LESS_THAN_OR_EQUAL = 1
    EQUAL = 2
    GREATER_THAN_OR_EQUAL = 3
    GREATER_THAN = 4
    NOT_EQUAL = 5


class LobbyFilterType(enum.IntEnum):
    EQUALS_LOBBY = 0
    EQUALS_FILTER = 1
    FILTER_EQUALS = 2


class FindWorldType(enum.IntEnum):
    GAME = 0
    LOBBY = 1
    ALL = 2


class ApplicationType(enum.IntEnum):
    GAME_WORLD = 0
    LOBBY_CHAT_CHANNEL = 1


# --- connections and addresses -------------------------------------------------------------------


class ConnectionType(enum.IntEnum):
    """``MediusConnectionType``: the client's link, the ``connection_class`` field."""

    MODEM = 0
    ETHERNET = 1
    WIRELESS = 2


class NetConnectionType(enum.IntEnum):
    NONE = 0
    CLIENT_SERVER_TCP = 1
    PEER_TO_PEER_UDP = 2
    CLIENT_SERVER_TCP_AUX_UDP = 3
    CLIENT_LISTENER_TCP = 4
    CLIENT_SERVER_UDP = 5
    CLIENT_LISTENER_TCP_AUX_UDP = 6
    CLIENT_LISTENER_UDP = 7


class NetAddressType(enum.IntEnum):
    NONE = 0
    EXTERNAL = 1  # dotted IPv4 text
    INTERNAL = 2
    NAT_SERVICE = 3
    BINARY_EXTERNAL = 4
    BINARY_INTERNAL = 5
    BINARY_EXTERNAL_VPORT = 6
    BINARY_INTERNAL_VPORT = 7
    BINARY_NAT_SERVICES = 8
    SIGNAL_ADDRESS = 9
    SIGNAL_BLOB = 10


# --- accounts and players ------------------------------------------------------------------------


class AccountType(enum.IntEnum):
    CHILD = 0
    MASTER = 1


class PasswordType(enum.IntEnum):
    NOT_SET = 0
    SET = 1


class AccessLevel(enum.IntFlag):
    DEFAULT = 0
    PRIVILEGED = 1
    BILLING_VERIFIED = 2
    MODERATOR = 4


class PlayerStatus(enum.IntEnum):
    DISCONNECTED = 0
    IN_AUTH_WORLD = 1  # on the MAS
    IN_CHAT_WORLD = 2  # in an MLS channel
    IN_GAME_WORLD = 3
    IN_OTHER_UNIVERSE = 4


class PlayerSearchType(enum.IntEnum):
    BY_ACCOUNT_ID = 0
    BY_NAME = 1


class BuddyAddType(enum.IntEnum):
    ADD_SINGLE = 0
    ADD_SYMMETRIC = 1


class UserAction(enum.IntEnum):
    KEEP_ALIVE = 0
    JOINED_CHAT_WORLD = 1
    LEFT_GAME_WORLD = 2
    LEFT_PARTY_WORLD = 3


class LadderType(enum.IntEnum):
    PLAYER = 0
    CLAN = 1


class SortOrder(enum.IntEnum):
    ASCENDING = 0
    DESCENDING = 1


class PolicyType(enum.IntEnum):
    USAGE = 0
    PRIVACY = 1


class DnasCategory(enum.IntEnum):
    CONSOLE_ID = 0
    TITLE_ID = 1
    DISK_ID = 2


# --- chat, text, localization -------------------------------------------------------------------


class ChatMessageType(enum.IntEnum):
    BROADCAST = 0
    WHISPER = 1
    BROADCAST_ACROSS_ENTIRE_UNIVERSE = 2
    CLAN = 3
    BUDDY = 4


class ChatToggle(enum.IntEnum):
    ENABLE = 0
    DISABLE = 1


class BinaryMessageType(enum.IntEnum):
    BROADCAST = 0
    TARGET = 1
    BROADCAST_ACROSS_ENTIRE_UNIVERSE = 2
    # the "Deprecated0" variants, meaning the same
    DEPRECATED_BROADCAST = 3
    DEPRECATED_TARGET = 4
    DEPRECATED_BROADCAST_ACROSS_ENTIRE_UNIVERSE = 5


class TextFilterType(enum.IntEnum):
    PASS_FAIL = 0
    REPLACE = 1


class CharacterEncoding(enum.IntEnum):
    NO_UPDATE = 0
    ISO8859_1 = 1
    UTF8 = 2


class Language(enum.IntEnum):
    NO_UPDATE = 0
    US_ENGLISH = 1
    UK_ENGLISH = 2
    JAPANESE = 3
    KOREAN = 4
    ITALIAN = 5
    SPANISH = 6
    GERMAN = 7
    FRENCH = 8
    DUTCH = 9
    PORTUGUESE = 10
    CHINESE = 11
    TAIWANESE = 12
    FINNISH = 13
    NORWEGIAN = 14


# --- clans ---------------------------------------------------------------------------------------


class ClanStatus(enum.IntEnum):
    ACTIVE = 0
    DISBANDED = -1


class ClanInvitationResponseStatus(enum.IntEnum):
    UNDECIDED = 0
    ACCEPT = 1
    DECLINE = 2
    REVOKED = 3


class ClanMessageStatus(enum.IntEnum):
    UNREAD = 0
    MODIFIED = 1
    DELETED = 2
    READ = 3


class ClanPlayerStatus(enum.IntEnum):
    NOT_YET_ACCEPTED = 0
    ACTIVE = 1
    REMOVED = 2


class ClanChallengeStatus(enum.IntEnum):
    REQUEST = 0
    ACCEPTED = 1
    REVOKED = 2
    REFUSED = 3
    CONFIRMED = 4


# --- universe information (MUIS) ------------------------------------------------------------------


class UniverseInfo(enum.IntFlag):
    """``MediusUniverseVariableInformationInfoFilter``: what a GetUniverseInformation asks for."""

    UNIVERSES = 0x001
    NEWS = 0x002
    ID = 0x004
    NAME = 0x008
    DNS = 0x010
    DESCRIPTION = 0x020
    STATUS = 0x040
    BILLING = 0x080
    EXTRA_INFO = 0x100
    SVO_URL = 0x200


# --- files (MFS) ---------------------------------------------------------------------------------


class FileXferStatus(enum.IntEnum):
    ERROR = 0
    INITIAL = 1
    MID = 2
    END = 3


# --- MGCL (game host <-> Medius) -----------------------------------------------------------------


class MgclError(enum.IntEnum):
    """``MGCL_ERROR_CODE`` (int8 on the wire): the ``confirmation`` of MGCL responses."""

    SUCCESS = 0
    CONNECTION_ERROR = -1
    CONNECTION_FAILED = -2
    DISCONNECT_FAILED = -3
    NOT_CONNECTED = -4
    SEND_FAILED = -5
    INITIALIZATION_FAILED = -6
    SHUTDOWN_ERROR = -7
    NETWORK_ERROR = -8
    AUTHENTICATION_FAILED = -9
    SESSION_BEGIN_FAILED = -10
    SESSION_END_FAILED = -11
    UNSUCCESSFUL = -12
    INVALID_ARG = -13
    NAT_RESOLVE_FAILED = -14
    GAME_NAME_EXISTS = -15
    WORLD_ID_IN_USE = -16
    DME_ERROR = -17
    CALL_CLOSE_BEFORE_REINIT = -18
    NUM_GAME_WORLDS_PER_LOBBY_WORLD_EXCEEDED = -19


class MgclEventType(enum.IntEnum):
    CLIENT_DISCONNECT = 0
    CLIENT_CONNECT = 1


class MgclTrustLevel(enum.IntEnum):
    TRUSTED = 0
    NOT_TRUSTED = 1
