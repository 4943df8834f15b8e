// hiredis (Debian libhiredis-dev, headers in the system include path); only
// ParamServer/Redis/RedisConnection.swift imports it. The non-variadic *Argv calls only.
#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

#include <hiredis/hiredis.h>

#endif
