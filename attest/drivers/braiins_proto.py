"""The few Braiins OS public API messages Rig Attest reads, as protobuf classes built at import.

Field numbers and types follow the public bos-plus-api protos (package ``braiins.bos.v1``,
``braiins.bos`` for ApiVersion): only the messages and fields read for identity are declared,
which protobuf's wire format allows (unknown fields are kept aside, not errors). Enums travel as
their numbers (int32 here), and ``google.protobuf.UInt32Value`` as a one-field message of the
same shape. Declaring them in Python keeps generated code and protoc out of the repository.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_T = descriptor_pb2.FieldDescriptorProto
STRING, BOOL, UINT32, UINT64, INT32, MESSAGE = (_T.TYPE_STRING, _T.TYPE_BOOL, _T.TYPE_UINT32,
                                                 _T.TYPE_UINT64, _T.TYPE_INT32, _T.TYPE_MESSAGE)
REPEATED = _T.LABEL_REPEATED

#: package -> message -> [(field name, number, type, message type name or "", repeated)]
_MESSAGES: dict[str, dict[str, list[tuple[str, int, int, str, bool]]]] = {
    "braiins.bos": {
        "ApiVersionRequest": [],
        "ApiVersion": [("major", 1, UINT64, "", False), ("minor", 2, UINT64, "", False),
                       ("patch", 3, UINT64, "", False), ("pre", 4, STRING, "", False),
                       ("build", 5, STRING, "", False)],
    },
    "braiins.bos.v1": {
        "LoginRequest": [("username", 1, STRING, "", False), ("password", 2, STRING, "", False)],
        "LoginResponse": [("token", 1, STRING, "", False), ("timeout_s", 2, UINT32, "", False)],
        "UInt32Value": [("value", 1, UINT32, "", False)],
        "MinerIdentity": [("brand", 1, INT32, "", False), ("model", 2, INT32, "", False),
                          ("name", 3, STRING, "", False), ("miner_model", 4, STRING, "", False)],
        "BosVersion": [("current", 1, STRING, "", False), ("major", 2, STRING, "", False),
                       ("bos_plus", 3, BOOL, "", False)],
        "PsuInfo": [("version", 1, MESSAGE, "UInt32Value", False), ("fw_version", 2, MESSAGE, "UInt32Value", False),
                    ("serial_number", 3, STRING, "", False), ("model_name", 4, STRING, "", False)],
        "GetMinerDetailsRequest": [],
        "GetMinerDetailsResponse": [
            ("uid", 1, STRING, "", False), ("miner_identity", 2, MESSAGE, "MinerIdentity", False),
            ("platform", 3, INT32, "", False), ("bos_mode", 4, INT32, "", False),
            ("bos_version", 5, MESSAGE, "BosVersion", False), ("hostname", 6, STRING, "", False),
            ("mac_address", 7, STRING, "", False), ("system_uptime", 8, UINT64, "", False),
            ("bosminer_uptime_s", 10, UINT64, "", False), ("system_uptime_s", 11, UINT64, "", False),
            ("status", 12, INT32, "", False), ("kernel_version", 13, STRING, "", False),
            ("psu_info", 14, MESSAGE, "PsuInfo", False), ("control_board_soc_family", 15, INT32, "", False),
            ("serial_number", 16, STRING, "", False)],
        "Hashboard": [("id", 1, STRING, "", False), ("enabled", 2, BOOL, "", False),
                      ("chips_count", 3, MESSAGE, "UInt32Value", False), ("model", 9, STRING, "", False),
                      ("serial_number", 12, STRING, "", False), ("board_name", 13, STRING, "", False),
                      ("chip_type", 14, STRING, "", False)],
        "GetHashboardsRequest": [],
        "GetHashboardsResponse": [("hashboards", 1, MESSAGE, "Hashboard", True)],
    },
}

LOGIN = "/braiins.bos.v1.AuthenticationService/Login"
MINER_DETAILS = "/braiins.bos.v1.MinerService/GetMinerDetails"
HASHBOARDS = "/braiins.bos.v1.MinerService/GetHashboards"
API_VERSION = "/braiins.bos.ApiVersionService/GetApiVersion"
#: ControlBoardSocFamily numbers as the protos name them.
SOC_FAMILIES = {1: "CVITEK", 2: "BBB", 3: "AML", 4: "ZYNQ", 5: "BRAIINS"}


def _build() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    classes: dict[str, Any] = {}
    for package, messages in _MESSAGES.items():
        file = descriptor_pb2.FileDescriptorProto(name=f"rigattest/{package}.proto", package=package,
                                                  syntax="proto3")
        for name, fields in messages.items():
            message = file.message_type.add(name=name)
            for field_name, number, kind, type_name, repeated in fields:
                field = message.field.add(name=field_name, number=number, type=kind,
                                          label=REPEATED if repeated else _T.LABEL_OPTIONAL)
                if type_name:
                    field.type_name = f".{package}.{type_name}"
        pool.Add(file)
        for name in messages:
            classes[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
    return classes


_CLASSES = _build()


def message(type_name: str, /, **fields: Any) -> Any:
    """A new message of type ``name`` (e.g. ``message("LoginRequest", username="root")``)."""
    return _CLASSES[type_name](**fields)


def parse(name: str, data: bytes) -> Any:
    """``data`` as message ``name``; raises google.protobuf.message.DecodeError when it is not one."""
    instance = _CLASSES[name]()
    instance.ParseFromString(data)
    return instance
