#pragma once
// The only place libre's headers are included (private to media). libre's C headers need the
// HAVE_* / USE_OPENSSL definitions set by CMake for carillon_media (notes/libre-media.md).

#include <cstdarg>
#include <cstddef>
#include <cstdint>

extern "C" {
#include <re.h>
}
