# gdn_add_plugin(<name> SOURCES <src>...
#                [LINK <libs>...]
#                [OUTPUT_DIRECTORY <dir>]
#                [INSTALL_DESTINATION <dir>]
#                [NO_INSTALL])
#
# Builds a gdn backend plugin: a MODULE library libgdn_<name>.so, compiled with hidden visibility
# and linked with a version script so that the only exported symbol is gdn_plugin_entry. The
# plugin is compiled against gdn/plugin.h (target gdn::plugin_sdk) and nothing else of gdn.
#
# The same file serves gdn's own build and the installed package (find_package(gdn)):
#   OUTPUT_DIRECTORY     where the .so is built; default: gdn's plugin directory in gdn's own
#                        build tree, else CMAKE_LIBRARY_OUTPUT_DIRECTORY, else the current binary
#                        directory.
#   INSTALL_DESTINATION  where `cmake --install` puts it; default <libdir>/gdn/plugins, the
#                        directory an installed gdn searches (relative to the install prefix).
#   NO_INSTALL           not installed at all (test plugins).
#   LINK                 libraries linked privately (a device runtime, oneTBB, ...).
#
# The target is named gdn_plugin_<name>; add options to it as to any target.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(gdn_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY;INSTALL_DESTINATION" "SOURCES;LINK" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "gdn_add_plugin(${name}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "gdn_add_plugin(${name}): SOURCES is required")
  endif()
  # The host selects backends by this name; plugin.h requires it lower case [a-z0-9_-].
  if(NOT name MATCHES "^[a-z0-9_-]+$")
    message(FATAL_ERROR "gdn_add_plugin(${name}): the name must be lower case [a-z0-9_-]+")
  endif()
  if(NOT TARGET gdn::plugin_sdk)
    message(FATAL_ERROR "gdn_add_plugin(${name}): target gdn::plugin_sdk not found; call find_package(gdn) first")
  endif()

  set(target gdn_plugin_${name})
  set(version_script ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/plugin.map)

  if(ARG_OUTPUT_DIRECTORY)
    set(output_dir ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED GDN_PLUGIN_OUTPUT_DIR)
    set(output_dir ${GDN_PLUGIN_OUTPUT_DIR})
  elseif(CMAKE_LIBRARY_OUTPUT_DIRECTORY)
    set(output_dir ${CMAKE_LIBRARY_OUTPUT_DIRECTORY})
  else()
    set(output_dir ${CMAKE_CURRENT_BINARY_DIR})
  endif()

  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME gdn_${name}
    PREFIX lib
    SUFFIX .so
    LIBRARY_OUTPUT_DIRECTORY ${output_dir}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    HIP_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${target} PRIVATE gdn::plugin_sdk)
  # The version script hides everything but gdn_plugin_entry, including symbols of static
  # libraries linked in; --no-undefined turns a missing symbol into a link error instead of a
  # load report on the user's machine.
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${version_script}" "LINKER:--no-undefined")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${version_script})
  if(ARG_LINK)
    target_link_libraries(${target} PRIVATE ${ARG_LINK})
  endif()

  if(NOT ARG_NO_INSTALL)
    if(ARG_INSTALL_DESTINATION)
      set(destination ${ARG_INSTALL_DESTINATION})
    else()
      set(destination ${CMAKE_INSTALL_LIBDIR}/gdn/plugins)
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${destination})
  endif()
endfunction()
