#!/usr/bin/env python3
"""Checks that PyTorch zip checkpoints would pass the weights-only unpickler of current PyTorch.

usage: weights_only_allowlist.py FILE.pt [FILE.pt ...]

For each file, reads the pickle in the archive (`<archive>/data.pkl`) with pickletools, without
PyTorch, and checks that
  - its protocol is 2 (torch.load's default; the unpickler warns on any other),
  - every opcode is one the weights-only unpickler implements,
  - every GLOBAL names a global it allows by default, and no STACK_GLOBAL occurs.
Prints the globals found, one per line; exits 1, naming what is wrong, when a check fails.

The lists below are copied from pytorch/pytorch `torch/_weights_only_unpickler.py` at commit
00f730b66e58769f9698d9236f58cd46c3794115 (a main-branch revision after PyTorch 2.6, where
weights_only=True became torch.load's default): `_get_allowed_globals()`, including
`_tensor_rebuild_functions()`, and the opcodes `Unpickler._load` handles. The storage classes
come from `_storage_classes` in `torch/__init__.py` (commit
0027c653a25545d8fff1b053ddb722a86722adf8), which `_get_allowed_globals` adds under
`f"{cls.__module__}.{cls.__name__}"`. Left out, so this list is a subset of the real one: the
entries that function builds at run time from dtypes (`torch.float32`, ...), tensor classes
(`torch.FloatTensor`, ...) and quantization schemes. A checkpoint that needed one of those would
be refused here although PyTorch would accept it; never the reverse.
"""

import pickletools
import sys
import zipfile

ALLOWED_GLOBALS = {
    "collections.OrderedDict",
    "collections.Counter",
    "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout",
    "torch.Size",
    "torch.Tensor",
    "torch.device",
    "_codecs.encode",
    "builtins.bytearray",
    "builtins.set",
    "builtins.complex",
    "torch._tensor._rebuild_from_type_v2",
    # _tensor_rebuild_functions()
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    # torch._storage_classes
    "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage",
    "torch.DoubleStorage",
    "torch.FloatStorage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.HalfStorage",
    "torch.BoolStorage",
    "torch.QUInt8Storage",
    "torch.QInt8Storage",
    "torch.QInt32Storage",
    "torch.BFloat16Storage",
    "torch.ComplexFloatStorage",
    "torch.ComplexDoubleStorage",
    "torch.QUInt4x2Storage",
    "torch.QUInt2x4Storage",
}

# pickletools' names of the opcodes Unpickler._load implements; any other is "Unsupported operand".
SUPPORTED_OPCODES = {
    "GLOBAL", "NEWOBJ", "REDUCE", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "MARK",
    "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "NONE", "NEWFALSE", "NEWTRUE", "EMPTY_TUPLE",
    "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "BININT", "BININT1", "BININT2", "BINFLOAT",
    "BINUNICODE", "SHORT_BINSTRING", "BINPERSID", "BINGET", "LONG_BINGET", "BINPUT",
    "LONG_BINPUT", "LONG1", "PROTO", "STOP",
}


def data_pickle(path):
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(names) != 1:
            raise ValueError(f"{path}: expected one data.pkl in the archive, found {names}")
        return archive.read(names[0])


def problems(path):
    found = []
    for opcode, arg, _ in pickletools.genops(data_pickle(path)):
        if opcode.name == "PROTO" and arg != 2:
            found.append(f"pickle protocol {arg}, not 2")
        if opcode.name not in SUPPORTED_OPCODES:
            found.append(f"opcode {opcode.name}, which the weights-only unpickler lacks")
        if opcode.name == "GLOBAL":
            name = arg.replace(" ", ".", 1)
            print(name)
            if name not in ALLOWED_GLOBALS:
                found.append(f"global {name}, which the weights-only unpickler refuses")
    return found


def main(paths):
    failed = False
    for path in paths:
        for problem in sorted(set(problems(path))):
            print(f"{path}: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
