# cache-service as a Lambda container image, for local invokes through the runtime interface
# emulator that the AWS base image contains:
#   docker build -t cache-service-lambda .
#   docker run --rm -p 9000:8080 cache-service-lambda
#   curl -s localhost:9000/2015-03-31/functions/function/invocations -d @event.json
# The same dependencies (infra/layer/requirements.txt, exported from uv.lock with hashes), handler
# and bytecode (unchecked hashes, as infra/assets.py compiles the stack's assets) as the CDK stack.
# No HTTP server of ours runs in this image: deployed, API Gateway terminates HTTP (with its own
# head and connection limits); the emulator is a local test tool, not an edge to expose. The
# edge limits (CACHE_MAX_HEADER_BYTES and the rest) apply where `cache-service` serves.
FROM public.ecr.aws/lambda/python:3.12

COPY infra/layer/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --no-compile --require-hashes --only-binary=:all: \
        --requirement /tmp/requirements.txt --target "${LAMBDA_TASK_ROOT}"
# The slice of botocore's data the DynamoDB store's client loads, beside botocore (as in the layer).
COPY infra/layer/botocore_subset.py /tmp/botocore_subset.py
RUN python /tmp/botocore_subset.py "${LAMBDA_TASK_ROOT}" dynamodb

COPY service/cache_service "${LAMBDA_TASK_ROOT}/cache_service"
RUN python -m compileall -q --invalidation-mode unchecked-hash "${LAMBDA_TASK_ROOT}"

# Runs with no other service: in-memory store, simulated transformer. Override with -e, e.g.
# -e CACHE_STORE=dynamodb -e CACHE_DYNAMODB_TABLE=... -e CACHE_REDIS_URL=redis://...
# Claims expire and waiters give up inside the 28 s the stack gives an invocation, as there.
ENV CACHE_STORE=memory \
    CACHE_SQLITE_PATH=/tmp/cache.db \
    CACHE_CLAIM_TTL_S=10 \
    CACHE_CLAIM_WAIT_S=20

CMD ["cache_service.aws.handler.handler"]
