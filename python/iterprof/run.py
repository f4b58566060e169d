"""python3 -m iterprof.run [--region NAME] MODULE:FUNCTION SCRIPT [ARGS...]

Run SCRIPT as `python3 SCRIPT ARGS...` would, with every call of
MODULE.FUNCTION one iteration of region NAME (default: FUNCTION), without
editing the script. Under `iterprof record`:

    iterprof record -- python3 -m iterprof.run bench:classify bench.py --calls 300

MODULE is either the script itself -- `__main__`, or the script's own name
(`bench` for bench.py) -- or a module the script imports. For the script
itself, the function is wrapped at the moment the script binds the name at
module level (`def`, `@decorator def`, assignment, import): the script runs
with a namespace that wraps what is stored under that name. Any other module
is imported before the script runs and its attribute replaced, so that
`from MODULE import FUNCTION` and `MODULE.FUNCTION` in the script, and the
module's own calls of it, get the wrapper.

The script sees what `python3 SCRIPT ARGS...` shows it: sys.argv == [SCRIPT,
ARGS...], sys.path[0] its directory, __name__ == "__main__", __file__, a
module in sys.modules["__main__"]; its output is its own and its exit status
(also sys.exit(N)) is this command's. An uncaught exception is printed by
sys.excepthook, without this runner's frames, and exits 1.

Bad input (no ':', an unknown module, a function the script never defines,
no such script, an unknown option) is one line on stderr, `iterprof.run:
...`, and exit status 2, before the script runs. Without the iterprof shim
the function is not wrapped at all and the script runs exactly as it would.
See doc/python.md.
"""
import ast
import builtins
import collections.abc
import difflib
import importlib.machinery
import io
import os
import sys
import types

import iterprof

USAGE = """\
usage: python3 -m iterprof.run [--region NAME] MODULE:FUNCTION SCRIPT [ARGS...]

Run SCRIPT like `python3 SCRIPT ARGS...`; every call of MODULE.FUNCTION is one
iteration of region NAME (default: FUNCTION) when run under `iterprof record`.

  MODULE     __main__ (or the script's own name, e.g. bench for bench.py) for a
             function the script defines at module level; otherwise a module
             to import (before the script runs) whose attribute is replaced
  --region NAME   name of the region (default: FUNCTION)
  -h, --help      this text

Example:
  iterprof record -- python3 -m iterprof.run bench:classify bench.py --calls 300

Exit status: the script's; 2 for bad usage (printed as one line). See
doc/python.md.
"""

EXIT_USAGE = 2
# This module runs as __main__: once the script's module takes its place in
# sys.modules, this keeps it referenced while its code runs.
RUNNER = []


class UsageError(Exception):
    """Bad input: one line, exit 2."""


def fail(message):
    print(f"iterprof.run: {message}", file=sys.stderr)
    return EXIT_USAGE


def parse_arguments(argv):
    """(region or None, module, function, script, script arguments), or
    None for --help. Options end at `--` or at the first non-option, so
    the script's own options pass through untouched."""
    region = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            return None
        if arg == "--":
            i += 1
            break
        if arg == "--region" or arg.startswith("--region="):
            if arg == "--region":
                if i + 1 >= len(argv):
                    raise UsageError("--region needs a NAME (--region NAME)")
                region = argv[i + 1]
                i += 2
            else:
                region = arg[len("--region="):]
                i += 1
            if not region or "\0" in region:
                raise UsageError(f"--region {region!r}: not a region name (give a "
                                 "non-empty name without NUL)")
            continue
        if arg.startswith("-") and arg != "-":
            raise UsageError(f"unknown option {arg!r} (python3 -m iterprof.run --help)")
        break
    rest = argv[i:]
    if len(rest) < 2:
        raise UsageError("missing " + ("MODULE:FUNCTION and SCRIPT" if not rest else "SCRIPT")
                         + " (usage: python3 -m iterprof.run [--region NAME] "
                         "MODULE:FUNCTION SCRIPT [ARGS...])")
    target, script, script_args = rest[0], rest[1], rest[2:]
    module, sep, function = target.partition(":")
    if not sep or not module or not function:
        raise UsageError(f"{target!r}: not MODULE:FUNCTION (e.g. bench:classify, or "
                         "__main__:classify for a function the script defines)")
    if "." in function:
        raise UsageError(f"{target!r}: only a module-level function can be named, not "
                         f"{function!r} (decorate a method with @iterprof.iterations)")
    if not function.isidentifier():
        raise UsageError(f"{target!r}: {function!r} is not a Python name")
    if not all(part.isidentifier() for part in module.split(".")):
        raise UsageError(f"{target!r}: {module!r} is not a module name")
    return region, module, function, script, script_args


def script_stem(script):
    base = os.path.basename(script)
    return base[:-3] if base.endswith(".py") else base


def read_script(script):
    """The script's source bytes; UsageError when it cannot be read."""
    if os.path.isdir(script):
        raise UsageError(f"{script}: is a directory (give the path of a Python script)")
    try:
        with io.open_code(script) as f:
            return f.read()
    except FileNotFoundError:
        raise UsageError(f"{script}: no such file (give the path of the Python script "
                         "to run)") from None
    except OSError as e:
        raise UsageError(f"{script}: cannot read it: {e.strerror or e}") from None


# `match` patterns that bind a name (Python 3.10 and later).
MATCH_CAPTURES = tuple(getattr(ast, n) for n in ("MatchAs", "MatchStar") if hasattr(ast, n))
MATCH_MAPPING = getattr(ast, "MatchMapping", ())


def module_level_bindings(tree):
    """The names a module binds outside its functions and classes (def,
    class, assignment targets, imports, for/with/except/match targets), and
    whether it has a `from ... import *` (which can bind anything)."""
    names, star = set(), False
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, scopes):
            names.add(node.name)
            # Decorators, defaults, bases: evaluated in the module's scope.
            stack.extend(node.decorator_list)
            if isinstance(node, ast.ClassDef):
                stack.extend(node.bases)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):
            continue  # scopes of their own
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            if node.name == "*":
                star = True
            else:
                names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, MATCH_CAPTURES) and node.name:
            names.add(node.name)
        elif isinstance(node, MATCH_MAPPING) and node.rest:
            names.add(node.rest)
        stack.extend(ast.iter_child_nodes(node))
    return names, star


class MainNamespace(collections.abc.MutableMapping):
    """The script's locals while its module code runs: every access goes to
    the module's own dictionary (its globals), and what is stored under the
    watched name is wrapped first.

    Why it works: module-level code reads and writes its names with LOAD_NAME
    and STORE_NAME on the frame's locals, and CPython calls __getitem__ and
    __setitem__ on a locals mapping that is not exactly a dict. The globals
    stay the real module dictionary -- the one sys.modules["__main__"] has,
    which the script's functions read with LOAD_GLOBAL at full speed, and
    pickle, dataclasses, typing and `import __main__` see. Not seen: a
    function that sets the name with `global NAME`, or globals()[NAME] = ...
    (STORE_GLOBAL and the dict's own methods bypass the mapping)."""

    def __init__(self, module_globals, name, wrap):
        self.globals = module_globals
        self.name = name
        self.wrap = wrap
        self.wrapped = 0  # callables stored under the name, and wrapped

    def __getitem__(self, key):
        return self.globals[key]

    def __setitem__(self, key, value):
        if key == self.name and callable(value) and not isinstance(value, iterprof.Iterations):
            value = self.wrap(value)
            self.wrapped += 1
        self.globals[key] = value

    def __delitem__(self, key):
        del self.globals[key]

    def __contains__(self, key):
        return key in self.globals

    def __iter__(self):
        return iter(self.globals)

    def __len__(self):
        return len(self.globals)


def main_module(path):
    """A fresh __main__ module, as `python3 SCRIPT` makes it: the same
    members in the same order (__file__ absolute, since Python 3.9)."""
    module = types.ModuleType("__main__")
    d = module.__dict__
    d["__annotations__"] = {}
    d["__builtins__"] = builtins
    d["__file__"] = path
    d["__cached__"] = None
    d["__loader__"] = importlib.machinery.SourceFileLoader("__main__", path)
    return module


def without_runner_frames(tb):
    """TB without its first entries in this file: the traceback starts in
    the script (or the module) as it would under `python3 SCRIPT`."""
    here = globals()
    while tb is not None and tb.tb_frame.f_globals is here:
        tb = tb.tb_next
    return tb


def report_uncaught(exc):
    """What the interpreter does with an uncaught exception: sys.last_*,
    sys.excepthook (the script may have set its own)."""
    tb = without_runner_frames(exc.__traceback__)
    exc.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    sys.excepthook(type(exc), exc, tb)
    return 1


def import_target(module_name, function, region):
    """Import MODULE_NAME and replace its FUNCTION by the wrapper. UsageError
    for an unknown module or attribute; the module's own errors propagate."""
    try:
        __import__(module_name)  # the import statement's machinery: importlib frames removed
    except ModuleNotFoundError as e:
        parents = {".".join(module_name.split(".")[:k])
                   for k in range(1, module_name.count(".") + 2)}
        if e.name in parents:
            raise UsageError(f"no module named {e.name!r} (from '{module_name}:{function}'; "
                             "it must be importable from the script's directory, "
                             "PYTHONPATH or site-packages, or be __main__ or the script's "
                             "own name for a function the script defines)") from None
        raise
    module = sys.modules[module_name]
    try:
        target = getattr(module, function)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(function, names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "name a function it defines"
        raise UsageError(f"module {module_name!r} ({getattr(module, '__file__', '?')}) has no "
                         f"attribute {function!r} ({hint})") from None
    if not callable(target):
        raise UsageError(f"{module_name}.{function} is a {type(target).__name__}, not a "
                         "function (name a function)")
    if not isinstance(target, iterprof.Iterations):
        setattr(module, function, iterprof.wrap(target, region))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        parsed = parse_arguments(argv)
        if parsed is None:
            sys.stdout.write(USAGE)
            return 0
        region, module_name, function, script, script_args = parsed
        region = region or function
        in_script = module_name in ("__main__", script_stem(script))
        source = read_script(script)
    except UsageError as e:
        return fail(str(e))

    path = os.path.abspath(script)
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:  # as python3 SCRIPT prints it, exit 1
        e.__traceback__ = None  # the error is in the script, not in this runner
        sys.excepthook(type(e), e, None)
        return 1
    if in_script:
        names, star = module_level_bindings(ast.parse(source, path))
        if function not in names and not star:
            close = difflib.get_close_matches(function, sorted(names), n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                "name a function it defines at module level, or a module it imports"
            return fail(f"{script} defines no {function!r} at module level (def, class, "
                        f"assignment or import outside functions; {hint})")

    # The interpreter's state for `python3 SCRIPT ARGS`: argv, the script's
    # directory (symbolic links resolved) first on sys.path (not with -P),
    # a new __main__ module.
    sys.argv[:] = [script, *script_args]
    if not getattr(sys.flags, "safe_path", False):  # -P, Python 3.11
        directory = os.path.dirname(os.path.realpath(script))
        if sys.path:
            sys.path[0] = directory
        else:
            sys.path.insert(0, directory)
    module = main_module(path)
    RUNNER.append(sys.modules.get("__main__"))
    sys.modules["__main__"] = module
    namespace = None
    try:
        if in_script:
            namespace = MainNamespace(module.__dict__, function,
                                      lambda f: iterprof.wrap(f, region))
            exec(code, module.__dict__, namespace)
        else:
            import_target(module_name, function, region)
            exec(code, module.__dict__)
    except UsageError as e:
        return fail(str(e))
    except SystemExit as e:
        if e.code in (None, 0) and namespace is not None and not namespace.wrapped:
            return fail(never_defined(script, function))
        raise
    except Exception as e:  # noqa: BLE001 - the script's: reported as python would
        return report_uncaught(e)
    if namespace is not None and not namespace.wrapped:
        return fail(never_defined(script, function))
    return 0


def never_defined(script, function):
    return (f"{script} ran without binding {function!r} to a function at module level "
            "(no call was recorded; name a function its module-level code defines)")


if __name__ == "__main__":
    sys.exit(main())
