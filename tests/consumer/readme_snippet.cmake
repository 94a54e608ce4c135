# Fails unless README.md shows, verbatim (less the two spaces of indentation), the lines of a consumer source
# between "// example-begin NAME" and "// example-end NAME": the README's examples are code that builds and runs
# (consumer_find_package), not copies that can drift. Read as one string, not as a CMake list, whose `;` and `[`
# would split and join the code's lines.
# Usage: cmake -DREADME=README.md -DSOURCE=pipeline.cpp -DNAME=pipeline -P readme_snippet.cmake
file(READ ${SOURCE} source)
set(begin_marker "// example-begin ${NAME}\n")
string(FIND "${source}" "${begin_marker}" begin)
string(FIND "${source}" "// example-end ${NAME}\n" end)
if(begin EQUAL -1 OR end EQUAL -1 OR end LESS begin)
  message(FATAL_ERROR "${SOURCE}: no example-begin/example-end ${NAME} markers")
endif()
string(LENGTH "${begin_marker}" marker_length)
math(EXPR first "${begin} + ${marker_length}")
math(EXPR length "${end} - ${first}")
string(SUBSTRING "${source}" ${first} ${length} snippet)
string(FIND "${snippet}" "\n" last_newline REVERSE)  # drop the end marker's indentation
math(EXPR kept "${last_newline} + 1")
string(SUBSTRING "${snippet}" 0 ${kept} snippet)
string(REPLACE "\n  " "\n" snippet "\n${snippet}")
string(SUBSTRING "${snippet}" 1 -1 snippet)
if(snippet STREQUAL "")
  message(FATAL_ERROR "${SOURCE}: the ${NAME} example is empty")
endif()
file(READ ${README} readme)
string(FIND "${readme}" "${snippet}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md does not show the ${NAME} example of ${SOURCE} verbatim; it should read:\n${snippet}")
endif()
