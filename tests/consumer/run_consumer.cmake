# Script mode: builds and runs the consumer project. Variables: MODE, VLGRAPH_SOURCE,
# VLGRAPH_BUILD, WORK, GENERATOR.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install ${VLGRAPH_BUILD} --prefix ${WORK}/prefix)
  run(${CMAKE_COMMAND} -S ${VLGRAPH_SOURCE}/tests/consumer/project -B ${WORK}/build -G ${GENERATOR}
      -DCONSUME=find_package -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_BUILD_TYPE=Release)
else()
  run(${CMAKE_COMMAND} -S ${VLGRAPH_SOURCE}/tests/consumer/project -B ${WORK}/build -G ${GENERATOR}
      -DCONSUME=add_subdirectory -DVLGRAPH_SOURCE=${VLGRAPH_SOURCE} -DCMAKE_BUILD_TYPE=Release)
endif()
run(${CMAKE_COMMAND} --build ${WORK}/build)
run(${WORK}/build/consumer)
message("${last_output}")
