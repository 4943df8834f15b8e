// zlib through pkg-config ("zlib"); only MetaTrain/Data/GzipByteSource.swift imports it.
// inflateInit2/deflateInit2 are macros Swift cannot call, hence the inline wrappers.
#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H

#include <zlib.h>

/// inflateInit2 for gzip streams only (window 2^15, +16 = expect a gzip header and trailer).
static inline int czlib_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 16);
}

/// deflateInit2 writing a gzip stream (tests and tools that write .gz files).
static inline int czlib_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

#endif
