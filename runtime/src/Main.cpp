//===- Main.cpp - main() of every Ingot training executable ---------------===//
#include "Trainer.h"

int main(int argc, char **argv) { return ingot::rt::runTrainer(*ingot_model(), argc, argv); }
