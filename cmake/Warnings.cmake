# layerleak_set_warnings(target): the warning set every layerleak target compiles with.
function(layerleak_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
  if(LAYERLEAK_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# layerleak_add_library(name SOURCES... DEPS...): one part of layerleak = one static library with
# its public headers under include/ and an alias layerleak::name.
function(layerleak_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(layerleak_${name} STATIC ${ARG_SOURCES})
  add_library(layerleak::${name} ALIAS layerleak_${name})
  target_include_directories(layerleak_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                               PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(layerleak_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  layerleak_set_warnings(layerleak_${name})
endfunction()
