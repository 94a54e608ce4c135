#include <voxformer/cpu_instances.hpp>

VOXFORMER_CPU_INSTANCES()
