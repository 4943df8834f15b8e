#ifndef METAREC_CBLAS_SHIM_H
#define METAREC_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (Debian: libopenblas-dev; pkg-config name "openblas").
#include <cblas.h>
// Thread control is an OpenBLAS extension declared in its cblas.h.
#endif
