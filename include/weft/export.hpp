#pragma once
// WEFT_API marks the symbols of weft's public surface; everything else is built with
// -fvisibility=hidden so a shared libweft exports only what its headers promise.
#if defined(WEFT_STATIC)
#define WEFT_API
#else
#define WEFT_API __attribute__((visibility("default")))
#endif
