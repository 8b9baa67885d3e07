#pragma once

// The whole public face of fedgan::pki, for programs and tests that use most of it: creating and
// issuing certificates, CRLs, inspection, identities and PEM files. Library code includes the one
// header it needs.

#include "pki/credentials.h"  // IWYU pragma: export
#include "pki/crl.h"          // IWYU pragma: export
#include "pki/error.h"        // IWYU pragma: export
#include "pki/identity.h"     // IWYU pragma: export
#include "pki/inspect.h"      // IWYU pragma: export
#include "pki/pem_files.h"    // IWYU pragma: export
