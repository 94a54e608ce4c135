# Runs README.md's install command as written — a fresh configure of this source tree and `cmake --install`, with
# nothing built — into a folder of the test's, and checks that it installed the headers and the CMake package.
# (Runners a configure finds the dependencies for must not make it fail: they are installed only once built.)
# Usage: cmake -DREADME=README.md -DSOURCE_DIR=<source tree> -DWORK_DIR=<scratch folder> -P readme_install.cmake
file(STRINGS ${README} lines REGEX "^cmake -S \\. -B build && cmake --install build --prefix ")
list(LENGTH lines count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "README.md should show the install command once, as 'cmake -S . -B build && cmake --install "
    "build --prefix …'; found ${count}")
endif()
list(GET lines 0 command)
string(REGEX REPLACE "#.*$" "" command "${command}")  # a trailing comment
string(REGEX REPLACE "--prefix [^ ]+" "--prefix ${WORK_DIR}/prefix" command "${command}")
string(REPLACE " build" " ${WORK_DIR}/build" command "${command}")
file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "running: ${command}")
execute_process(COMMAND sh -c "${command}" WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE status
  OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "README's install command failed (${status}):\n${output}")
endif()
foreach(file include/voxformer/voxformer.hpp share/cmake/voxformer/voxformerConfig.cmake
             share/cmake/voxformer/voxformerTargets.cmake)
  if(NOT EXISTS ${WORK_DIR}/prefix/${file})
    message(FATAL_ERROR "README's install command did not install ${file}:\n${output}")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
