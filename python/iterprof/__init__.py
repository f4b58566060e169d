"""Mark the iterations of a Python benchmark for iterprof.

    import iterprof

    for batch in batches:
        with iterprof.iteration("step"):        # one iteration per block
            train(batch)

    @iterprof.iterations                        # one iteration per call,
    def parse(text): ...                        # region "parse" (__qualname__)

    @iterprof.iterations("load")                # region "load"
    def load(path): ...

    iterprof.begin("step"); ...; iterprof.end("step")

Under `iterprof record` the preloaded shim (libiterprof.so) defines the C
functions iterprof_iter_begin(const char *) and iterprof_iter_end(const char *)
of <iterprof/iterprof.h>; this module looks them up once, at import, through
ctypes.CDLL(None) (the process's global symbol scope, where LD_PRELOAD puts
the shim), and every begin/end pair in a thread is one recorded iteration of
that region. Without the shim the symbols are absent and everything here is a
cheap no-op: iteration() returns a shared context manager that does nothing,
iterations() returns the function itself, begin()/end() only check the name.
active() says which. Standard library only; no build step.

The semantics are the C API's, because the shim implements them: each thread
has its own iteration stream per region; a begin of a region already open in
the thread (nesting, recursion) starts no new iteration, only the outermost
pair counts; an end of a region that is not open is ignored. The objects
here keep no state of their own, so one context manager or decorated
function can be used from several threads and re-entered freely.

A region name is a str (encoded as UTF-8) or bytes, without NUL; the shim
keeps the first 255 bytes. Names are encoded once and cached.

Cost per `with iterprof.iteration(...)` block: doc/python.md (this module
adds about 140 ns to the two ctypes calls into the shim; without the shim a
block costs what an empty `with` block does).
"""
import ctypes
import functools
import types

__all__ = ["Iterations", "active", "begin", "end", "iteration", "iterations", "wrap"]
__version__ = "1.0"

# Names cached: a program that makes a name per iteration (f"step{i}") must
# not grow the caches without bound; past this, names are encoded each time
# (the shim itself keeps at most 64 regions per thread).
_CACHE_MAX = 1024


def _lookup_markers():
    """The shim's two marker functions, with argtypes and restype set, or
    (None, None) when the shim is not loaded in this process."""
    try:
        process = ctypes.CDLL(None)
        begin_fn = process.iterprof_iter_begin
        end_fn = process.iterprof_iter_end
    except (OSError, AttributeError):
        return None, None
    for fn in (begin_fn, end_fn):
        # c_char_p takes bytes as is (no copy); restype None: no int to box.
        fn.argtypes = (ctypes.c_char_p,)
        fn.restype = None
    return begin_fn, end_fn


def _no_marker(region):
    """Stands for a marker without the shim (an Iterations made directly
    still calls something)."""


_begin, _end = _lookup_markers()
_ACTIVE = _begin is not None
if not _ACTIVE:
    _begin = _end = _no_marker
_REGIONS = {}   # name as given -> its bytes
_CONTEXTS = {}  # name as given -> the context manager iteration() returns


def active():
    """True when the iterprof shim is loaded (the program runs under
    `iterprof record`): the markers record; False: they do nothing."""
    return _ACTIVE


def _encode(region):
    """REGION as the bytes the shim gets; TypeError or ValueError for a name
    that is not one."""
    if isinstance(region, str):
        data = region.encode("utf-8", "surrogateescape")
    elif isinstance(region, bytes):
        data = region
    else:
        raise TypeError("iterprof: a region name is a str or bytes, not "
                        f"{type(region).__name__}")
    if b"\0" in data:
        raise ValueError(f"iterprof: region name {region!r} contains a NUL character")
    return data


def _region_bytes(region):
    try:
        return _REGIONS[region]
    except (KeyError, TypeError):  # TypeError: unhashable, not a name
        pass
    data = _encode(region)
    if len(_REGIONS) < _CACHE_MAX:
        _REGIONS[region] = data
    return data


class _Iteration:
    """The context manager of iteration(REGION): begin at entry, end at exit,
    also when the block raises (the exception propagates). It holds only the
    encoded name: re-entrant, and shareable between threads."""

    __slots__ = ("region", "_data")

    def __init__(self, region, data):
        self.region = region
        self._data = data

    # Plain methods calling the ctypes functions. Measured against a class
    # whose __enter__/__exit__ are functools.partial objects of them (no
    # Python frame; __exit__ through a prototype taking the three exit
    # arguments as py_object): 577 ns against 397 ns per block with the
    # clock only -- the extra arguments' conversion costs more than the
    # frames save.
    def __enter__(self):
        _begin(self._data)

    def __exit__(self, exc_type, exc, traceback):
        _end(self._data)
        return False

    def __repr__(self):
        return f"iterprof.iteration({self.region!r})"


class _NoIteration:
    """iteration()'s context manager without the shim: does nothing."""

    __slots__ = ("region",)

    def __init__(self, region):
        self.region = region

    def __enter__(self):
        pass

    def __exit__(self, exc_type, exc, traceback):
        return False

    def __repr__(self):
        return f"iterprof.iteration({self.region!r}) (inactive: no iterprof shim)"


def iteration(region):
    """A context manager: each `with iterprof.iteration(REGION):` block is one
    iteration of REGION in the calling thread (only the outermost block
    counts when blocks of the same region nest). The iteration ends when the
    block ends, by an exception too. `as` binds None.

    The same object is returned for the same name (it is stateless), so
    calling this in a loop costs a dictionary look-up."""
    try:
        return _CONTEXTS[region]
    except (KeyError, TypeError):
        pass
    data = _encode(region)
    context = _Iteration(region, data) if _ACTIVE else _NoIteration(region)
    if len(_CONTEXTS) < _CACHE_MAX:
        _CONTEXTS[region] = context
    return context


if _ACTIVE:
    def begin(region):
        """Begin an iteration of REGION in the calling thread."""
        _begin(_region_bytes(region))

    def end(region):
        """End the iteration of REGION open in the calling thread (ignored
        when there is none)."""
        _end(_region_bytes(region))
else:
    def begin(region):
        """Begin an iteration of REGION (no shim: only checks the name)."""
        _region_bytes(region)

    def end(region):
        """End the iteration of REGION (no shim: only checks the name)."""
        _region_bytes(region)


# Attributes the wrapper keeps for itself; any other is the wrapped object's.
_OWN = frozenset(("__wrapped__", "__module__", "__name__", "__qualname__", "__doc__",
                  "__annotations__", "__dict__", "region", "_data"))


class Iterations:
    """A callable wrapper: every call of the wrapped object is one iteration
    of its region. What iterations() and `python3 -m iterprof.run` make.

    Transparent: the call returns what the wrapped object returns and raises
    what it raises; __name__, __qualname__, __doc__, __module__ and
    __annotations__ are copied and __wrapped__ set (functools.update_wrapper),
    and every other attribute is the wrapped object's, read, set or deleted
    live (a numba dispatcher's .compile(), .signatures, .inspect_types()...).
    The wrapped object's __dict__ is deliberately not copied, as
    functools.wraps would: a copy would hide later changes of the wrapped
    object's attributes behind stale values. As a class attribute it binds
    like a function (a method call is one iteration). type() and
    isinstance(wrapper, T) see the wrapper's type, Iterations; a wrapped
    class still works as the second argument of isinstance()."""

    def __init__(self, wrapped, region):
        data = _encode(region)
        functools.update_wrapper(self, wrapped, updated=())
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "_data", data)

    def __call__(self, *args, **kwargs):
        data = self._data
        _begin(data)
        try:
            return self.__wrapped__(*args, **kwargs)
        finally:
            _end(data)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return types.MethodType(self, instance)

    def __getattr__(self, name):
        # Called only for what the wrapper does not have itself. Guarded:
        # during copy/unpickling there is no __wrapped__ yet.
        if name == "__wrapped__":
            raise AttributeError(name)
        return getattr(self.__wrapped__, name)

    def __setattr__(self, name, value):
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.__wrapped__, name, value)

    def __delattr__(self, name):
        if name in _OWN:
            object.__delattr__(self, name)
        else:
            delattr(self.__wrapped__, name)

    def __reduce__(self):
        # Pickled by reference, as functions are: the name under which its
        # module holds it (where iterations() or iterprof.run put it), so
        # that pickle and multiprocessing accept a wrapped module function.
        # A wrapped object without a __qualname__ (a callable instance):
        # by value, the wrapped object and the region.
        qualname = self.__dict__.get("__qualname__")
        if not isinstance(qualname, str):
            return (Iterations, (self.__wrapped__, self.region))
        return qualname

    # A wrapped class: isinstance(x, Wrapped) and issubclass still work.
    def __instancecheck__(self, instance):
        return isinstance(instance, self.__wrapped__)

    def __subclasscheck__(self, subclass):
        return issubclass(subclass, self.__wrapped__)

    def __repr__(self):
        return f"<iterprof.iterations({self.region!r}) of {self.__wrapped__!r}>"


def _default_region(function):
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"iterprof: {function!r} has no __qualname__ or __name__: "
                        "name the region, @iterprof.iterations(\"name\")")
    return name


def wrap(function, region=None):
    """FUNCTION wrapped so that each call is one iteration of REGION (default:
    its __qualname__); without the shim, FUNCTION itself."""
    if region is None:
        region = _default_region(function)
    else:
        _encode(region)  # the same errors with and without the shim
    if not _ACTIVE:
        return function
    return Iterations(function, region)


def iterations(region=None):
    """Decorator: every call of the function is one iteration.

        @iterprof.iterations            # region: the function's __qualname__
        @iterprof.iterations()          # the same
        @iterprof.iterations("name")    # region "name"

    A call is the call: for a generator or async function that is the call
    that creates the generator or coroutine, not the work done as it is
    iterated or awaited. Without the shim, the function is returned as is."""
    if region is not None and not isinstance(region, (str, bytes)) and callable(region):
        return wrap(region)
    if region is not None:
        _encode(region)

    def decorate(function):
        return wrap(function, region)
    return decorate
