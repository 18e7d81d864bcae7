"""Reshaping of the client's protobuf messages, and ids of named objects."""

from __future__ import annotations

import hashlib
from typing import Any

from google.protobuf.message import Message
from modal_proto import api_pb2


def named_id(kind: str, scope: str, name: str) -> str:
    """Id of a named object, a pure function of its name, so that it stays valid across
    server restarts and for objects the client hydrated against another server."""
    digest = hashlib.sha256(f"{kind}\0{scope}\0{name}".encode()).hexdigest()
    return f"{kind}-{digest[:22]}"


def field_kind(field: Any) -> tuple[Any, ...]:
    """What must match for a Function field to be copied into the same-named FunctionData one."""
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        return ("map",) + field_kind(message.fields_by_name["value"])
    return (
        field.type,
        field.is_repeated,
        message.full_name if message is not None else None,
    )


def function_data_from(fn: api_pb2.Function) -> api_pb2.FunctionData:
    """Build the FunctionData the 1.6 client expects back from a plain Function.

    FunctionData shares field names with Function (minus per-rank resources); the
    client parses `FunctionCreateResponse.function_data.ranked_functions` even when it
    sent a single `function`, so rank 0 carries the whole definition.
    """
    data = api_pb2.FunctionData()
    source_fields = api_pb2.Function.DESCRIPTOR.fields_by_name
    for target in api_pb2.FunctionData.DESCRIPTOR.fields:
        source = source_fields.get(target.name)
        if source is None or field_kind(source) != field_kind(target):
            continue
        value = getattr(fn, target.name)
        if source.message_type is not None and source.message_type.GetOptions().map_entry:
            entries = getattr(data, target.name)
            for key, item in value.items():
                if isinstance(item, Message):
                    entries[key].CopyFrom(item)
                else:
                    entries[key] = item
        elif target.is_repeated or source.message_type is not None:
            if target.is_repeated or fn.HasField(target.name):  # type: ignore[arg-type]
                getattr(data, target.name).MergeFrom(value)
        elif not source.has_presence or fn.HasField(target.name):  # type: ignore[arg-type]
            setattr(data, target.name, value)
    data.ranked_functions.add(rank=0, function=fn)
    return data


def stripped(data: api_pb2.FunctionData) -> api_pb2.FunctionData:
    """Copy without pickled code, to keep persisted app layouts small."""
    out = api_pb2.FunctionData()
    out.CopyFrom(data)
    for ranked in out.ranked_functions:
        ranked.function.function_serialized = b""
        ranked.function.class_serialized = b""
    return out
