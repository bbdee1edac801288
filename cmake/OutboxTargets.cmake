# outbox_add_library(NAME EXPORT_NAME SOURCES ... [PUBLIC_LINK ...] [PRIVATE_LINK ...])
# One library per folder (core, each store, each sink): the same warnings, position-independent
# code, the public headers, and an alias outbox::<EXPORT_NAME> so that users and tests link by the
# name they would use after `find_package(outbox COMPONENTS ...)`.
function(outbox_add_library name export_name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_LINK;PRIVATE_LINK" ${ARGN})
  add_library(${name} ${ARG_SOURCES})
  add_library(outbox::${export_name} ALIAS ${name})
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${export_name} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${name}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_LINK} PRIVATE ${ARG_PRIVATE_LINK})
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  set_property(GLOBAL APPEND PROPERTY OUTBOX_EXPORTED_TARGETS ${name})
endfunction()

# outbox_register_scheme(STORE|SINK HEADER SYMBOL): one row of the scheme table that outbox::outbox
# generates (src/schemes/): the public header that declares the backend's scheme object, and that
# object's name. Called once by each backend's CMakeLists.
function(outbox_register_scheme kind header symbol)
  set_property(GLOBAL APPEND PROPERTY OUTBOX_SCHEME_INCLUDES ${header})
  set_property(GLOBAL APPEND PROPERTY OUTBOX_${kind}_SCHEMES ${symbol})
endfunction()
