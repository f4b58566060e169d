# CMake toolchain file: cross-build iterprof for aarch64 (arm64) on a Debian
# x86-64 host with Debian's cross compiler and multiarch libraries.
#
#   cmake -S . -B build/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DCMAKE_BUILD_TYPE=Release
#   cmake --build build/arm64
#
# Needs (scripts/test-arm64 installs them): gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, and the arm64 -dev packages the build links
# (`dpkg --add-architecture arm64`, then libelf-dev:arm64 libdw-dev:arm64
# libiberty-dev:arm64 libjansson-dev:arm64 libpfm4-dev:arm64).
#
# Where things are:
#   /usr/aarch64-linux-gnu/{include,lib}  the cross C library (libc6-dev-arm64-cross)
#   /usr/lib/aarch64-linux-gnu            multiarch arm64 libraries (libelf, libdw,
#                                         libiberty.a, libjansson, libpfm), .pc files
#   /usr/include (+ /usr/include/aarch64-linux-gnu)  their headers

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(ITERPROF_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${ITERPROF_CROSS_TRIPLE}-gcc)
set(CMAKE_ASM_COMPILER ${ITERPROF_CROSS_TRIPLE}-gcc)
# find_library/find_path look in <prefix>/lib/aarch64-linux-gnu first (and
# never in the host's x86_64-linux-gnu directories).
set(CMAKE_LIBRARY_ARCHITECTURE ${ITERPROF_CROSS_TRIPLE})

# Search the cross C library's tree and the host root (whose multiarch
# directories hold the arm64 libraries); programs (pkg-config, python3) are
# the host's.
set(CMAKE_FIND_ROOT_PATH /usr/${ITERPROF_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config: only the arm64 .pc files (never the host's x86_64 ones).
# Set here so that every configure run, and every try_compile, gets it.
set(ENV{PKG_CONFIG_LIBDIR}
  "/usr/lib/${ITERPROF_CROSS_TRIPLE}/pkgconfig:/usr/${ITERPROF_CROSS_TRIPLE}/lib/pkgconfig:/usr/share/pkgconfig")
unset(ENV{PKG_CONFIG_PATH})
unset(ENV{PKG_CONFIG_SYSROOT_DIR})
