# gdn_add_plugin(<name> SOURCES <src>... [LINK <libs>...])
#
# Builds a backend plugin: a MODULE library named libgdn_<name>.so in gdn's plugin directory,
# compiled with hidden visibility and linked with a version script so that the only exported
# symbol is gdn_plugin_entry. The plugin sees gdn/plugin.h and nothing else of gdn.
set(GDN_PLUGIN_VERSION_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/plugin.map)

function(gdn_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK" ${ARGN})
  set(target gdn_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME gdn_${name}
    PREFIX lib
    LIBRARY_OUTPUT_DIRECTORY ${GDN_PLUGIN_OUTPUT_DIR}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    HIP_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/core/include)
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${GDN_PLUGIN_VERSION_SCRIPT}" "LINKER:--no-undefined")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${GDN_PLUGIN_VERSION_SCRIPT})
  if(ARG_LINK)
    target_link_libraries(${target} PRIVATE ${ARG_LINK})
  endif()
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/${GDN_PLUGIN_SUBDIR})
endfunction()
