//===- IngotInterfaces.cpp - Op interfaces of the Ingot dialect -----------===//

#include "dialects/Ingot/IngotInterfaces.h"

#include "dialects/Ingot/IngotInterfaces.cpp.inc"
