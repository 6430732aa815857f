// Declarations only (include/FuzzDriverShim.h); SwiftPM needs one source file.
#include "FuzzDriverShim.h"
