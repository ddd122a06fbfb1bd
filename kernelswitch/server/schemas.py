"""Schema pieces shared by the handlers and the OpenAPI document.

Request schemas live next to their handlers (``body_schema`` /
``query_schema``); what several of them use is here, with the response
schemas (OpenAPI ``components``) the contract test checks every answer against.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COMPONENTS",
    "FLAG",
    "MAX_PATH",
    "QUERY_FLAG",
    "errors",
    "ok",
    "truthy",
]

#: Longest file path accepted (Linux PATH_MAX).
MAX_PATH = 4096
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
#: A yes/no option in a JSON body.
FLAG: dict[str, Any] = {
    "enum": [True, False, 0, 1, *_TRUE, *[f for f in _FALSE if f]],
    "description": "true or false (also 1/0, yes/no, on/off)",
}
#: A yes/no option in the query string.
QUERY_FLAG: dict[str, Any] = {
    "type": "string",
    "enum": [*_TRUE, *_FALSE],
    "description": "1 or 0 (also true/false, yes/no, on/off)",
}


def truthy(value: Any) -> bool:
    """A :data:`FLAG` / :data:`QUERY_FLAG` value as a bool."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


#: Reference to the VM record schema (most VM verbs answer one).
VM = {"$ref": "#/components/schemas/VM"}


def ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    """An OpenAPI JSON response."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_TEXT = {
    400: "bad input: the message names the field and the limit",
    403: "not authenticated or not authorized",
    404: "no such VM, route, folder or other resource",
    409: "conflict with the VM's state, its name, or an operation already running (vm_busy)",
    413: "request body too large",
    422: "the ISO's OS is not identified: details.oses lists choices",
    500: "a bug: error.id is in the server log",
    502: "a download failed: offline, cut too often, or a size/checksum mismatch",
    503: "the host cannot do it now (libvirtd unreachable or too slow)",
    507: "the storage pool is full (pool_full): details.available is the free space in bytes",
}


def errors(*codes: int) -> dict[str, Any]:
    """OpenAPI responses for these error statuses (403, 413, 500, 503 are always possible)."""
    out = {}
    for code in sorted({*codes, 403, 413, 500, 503}):
        out[str(code)] = ok({"$ref": "#/components/schemas/Error"}, _ERROR_TEXT[code])
    return out


_STR_OR_NULL = {"type": ["string", "null"]}
_STATES = [
    "nostate", "running", "blocked", "paused", "shutting-down", "shutoff", "crashed", "pmsuspended"
]  # fmt: skip
_ENV_KEYS = [
    "kind", "name", "prefix", "executable", "version",
    "version_source", "has_ipykernel", "mode", "error",
]  # fmt: skip
_INT_OR_NULL = {"type": ["integer", "null"]}

COMPONENTS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "id": {"type": "string", "description": "500 only: the log line's error id"},
                    "details": {"type": "object"},
                },
            }
        },
    },
    "VM": {
        "type": "object",
        "required": ["name", "uuid", "state", "uri", "disks", "media"],
        "properties": {
            "id": _INT_OR_NULL,
            "name": {"type": "string"},
            "uuid": {"type": "string"},
            "state": {"enum": _STATES},
            "os_id": _STR_OR_NULL,
            "os_name": {
                "type": ["string", "null"],
                "description": "the OS's name from libosinfo (\"Alpine Linux 3.17\"); null "
                "when none is recorded",
            },
            "memory": _INT_OR_NULL,
            "vcpus": _INT_OR_NULL,
            "machine": _STR_OR_NULL,
            "firmware": _STR_OR_NULL,
            "type": _STR_OR_NULL,
            "disks": {"type": "array", "items": {"type": "object"}},
            "media": {"type": "array", "items": {"type": "object"}},
            "interfaces": {"type": "array", "items": {"type": "object"}},
            "serial_log": _STR_OR_NULL,
            "preview_path": {
                "type": ["string", "null"],
                "description": "the last console frame (PNG), once a console has shown one",
            },
            "persistent": {"type": "boolean"},
            "uri": {"type": "string"},
        },
    },
    "VMList": {
        "type": "object",
        "required": ["vms"],
        "properties": {"vms": {"type": "array", "items": {"$ref": "#/components/schemas/VM"}}},
    },
    "Deleted": {
        "type": "object",
        "required": ["name", "deleted", "removed_disks", "kept_disks"],
        "properties": {
            "name": {"type": "string"},
            "deleted": {"type": "boolean"},
            "removed_disks": {"type": "array", "items": {"type": "string"}},
            "kept_disks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "reason"],
                    "properties": {"path": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
        },
    },
    "Storage": {
        "type": "object",
        "required": ["pool", "path", "capacity", "allocation", "available", "volumes"],
        "properties": {
            "pool": {"type": "string"},
            "path": {"type": "string"},
            "capacity": {"type": "integer"},
            "allocation": {"type": "integer"},
            "available": {"type": "integer"},
            "volumes": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Env": {
        "type": "object",
        "required": _ENV_KEYS,
        "properties": {
            "kind": {"type": "string"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "executable": _STR_OR_NULL,
            "version": _STR_OR_NULL,
            "version_source": _STR_OR_NULL,
            "has_ipykernel": {"type": ["boolean", "null"]},
            "mode": _STR_OR_NULL,
            "error": _STR_OR_NULL,
            "reason": _STR_OR_NULL,
            "label": {"type": "string", "description": "the name, told apart by its parent "
                      "folder when names collide (proj-a/.venv); GET envs only"},
            "short_path": {"type": "string", "description": "prefix with ~ for home"},
            "server": {"type": "boolean", "description": "the server's own env"},
            "recommended": {"type": "boolean", "description": "inside the notebook's "
                            "folder or project root (GET envs?notebook=)"},
            "current": {"type": "boolean", "description": "the env the kernel runs in "
                        "(GET envs?kernel=)"},
        },
    },
    "Comparison": {
        "type": "object",
        "description": "what moving the kernel to target changes; the words are the "
                       "switch's and carry's (from_server, never lost/missing)",
        "required": ["current", "target", "mode", "reason", "version", "missing_packages",
                     "from_server", "notebook", "notebook_imports", "unsatisfied_imports",
                     "imports_from_server"],
        "properties": {
            "current": {"$ref": "#/components/schemas/Env"},
            "target": {"$ref": "#/components/schemas/Env"},
            "mode": {"type": "string"}, "reason": {"type": "string"},
            "version": {"type": "object", "properties": {
                "from": _STR_OR_NULL, "to": _STR_OR_NULL,
                "change": {"enum": ["same", "patch", "minor", "major", "unknown"]},
                "direction": {"enum": ["upgrade", "downgrade", "none"]}}},
            "missing_packages": {"type": "object", "additionalProperties": {"type": "string"},
                                 "description": "in current, not in target nor brought by "
                                 "the server: name -> current version"},
            "from_server": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "not in target, but overlay mode brings them "
                            "from the server: name -> server's version"},
            "provided_by_mode": {"type": "array", "items": {"type": "string"},
                                 "description": "the keys of from_server (older name)"},
            "notebook": _STR_OR_NULL,
            "notebook_imports": {"type": "array", "items": {"type": "string"}},
            "unsatisfied_imports": {"type": "array", "items": {"type": "string"},
                                    "description": "imports the target cannot satisfy "
                                    "(align installs them)"},
            "imports_from_server": {"type": "array", "items": {"type": "string"},
                                    "description": "imports satisfied by the server's "
                                    "packages in overlay mode"},
        },
    },
    "EnvList": {
        "type": "object",
        "required": ["envs", "partial", "errors"],
        "properties": {
            "envs": {"type": "array", "items": {"$ref": "#/components/schemas/Env"}},
            "partial": {"type": "boolean"},
            "reason": {
                "type": ["string", "null"],
                "description": "why the list is partial (scan deadline, a scan already running)",
            },
            "errors": {"type": "array", "items": {"type": "object"}},
            "server": {"type": "object"},
        },
    },
    "OS": {
        "type": "object",
        "required": ["id", "short_id", "name"],
        "properties": {
            "id": {"type": "string"},
            "short_id": {"type": "string"},
            "name": {"type": "string"},
            "version": _STR_OR_NULL,
            "family": _STR_OR_NULL,
            "release_date": _STR_OR_NULL,
        },
    },
    "OSList": {
        "type": "object",
        "required": ["oses", "query", "db"],
        "properties": {
            "oses": {"type": "array", "items": {"$ref": "#/components/schemas/OS"}},
            "query": _STR_OR_NULL,
            "db": {"type": "object"},
        },
    },
    "Identified": {
        "type": "object",
        "required": ["path", "os"],
        "properties": {
            "path": {"type": "string"},
            "os": {"oneOf": [{"$ref": "#/components/schemas/OS"}, {"type": "null"}]},
        },
    },
}
